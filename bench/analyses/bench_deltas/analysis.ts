import { Analysis, type PatchOperation } from 'databench-ts';

interface Data {
  xs: number[];
  big: Record<string, string>;
}

/** W10: a long list grown one element at a time, a large object changed one field at a time. */
export class BenchDeltas extends Analysis<Data> {
  /** `xs` = 0 … n - 1. */
  async on_list_setup(n: number) {
    await this.data.set(
      'xs',
      Array.from({ length: n }, (_, i) => i),
    );
    await this.emit('ready');
  }

  /** Append n elements one at a time (`append`; with `set`: the whole list each time, diffed). */
  async on_list_grow(n: number, how: 'append' | 'set') {
    const xs = how === 'set' ? this.data.get('xs')! : [];
    const start = how === 'set' ? xs.length : this.data.get('xs')!.length;
    for (let i = 0; i < n; i++) {
      if (how === 'append') await this.data.append('xs', start + i);
      else {
        xs.push(start + i);
        await this.data.set('xs', xs);
      }
    }
    await this.emit('done');
  }

  /** `big` = `fields` fields of `size` characters each. */
  async on_object_setup(fields: number, size: number) {
    const big: Record<string, string> = {};
    for (let i = 0; i < fields; i++) big[`k${i}`] = String(i).padEnd(size, '.');
    await this.data.set('big', big);
    await this.emit('ready');
  }

  /** Change one field n times (`patch`; with `set`: the whole object each time, diffed). */
  async on_object_change(n: number, fields: number, size: number, how: 'patch' | 'set') {
    const big = how === 'set' ? this.data.get('big')! : undefined;
    for (let i = 0; i < n; i++) {
      const key = `k${(i * 7919) % fields}`;
      const value = `changed ${i}`.padEnd(size, '!');
      if (big === undefined) {
        const ops: PatchOperation[] = [{ op: 'replace', path: `/${key}`, value }];
        await this.data.patch('big', ops);
      } else {
        big[key] = value;
        await this.data.set('big', big);
      }
    }
    await this.emit('done');
  }
}
