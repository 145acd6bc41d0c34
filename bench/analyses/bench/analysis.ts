import { Analysis, type UploadedFile } from 'databench-ts';

/** The benchmark's workloads, written as a user would write them. */
export class Bench extends Analysis<{ count: number } & Record<string, unknown>> {
  on_test_fn(first: unknown, second: unknown = 100) {
    return this.emit('test_fn', [first, second]);
  }

  on_test_state(key: string, value: unknown) {
    return this.data.set(key, value);
  }

  async on_stream(n: number) {
    for (let i = 0; i < n; i++) await this.data.setState({ count: i });
    await this.emit('stream_done');
  }

  /** Compute for `ms` milliseconds in a synchronous loop (W8). */
  on_burn(ms: number) {
    const end = Date.now() + ms;
    let x = 0;
    while (Date.now() < end) x += Math.random();
    return this.emit('burnt', x > 0);
  }

  /** An uploaded file (the upload rows): its size back, once every byte has arrived. */
  on_upload(file: UploadedFile) {
    return this.emit('uploaded', file.size);
  }

  on_set_shared(key: string, value: unknown) {
    return this.classData.set(key, value);
  }
}
