/**
 * A file a page uploaded, as its action's handler gets it, and how an
 * upload's action is called: the file (or the list of files) as its one
 * positional argument, with the `__process_id` the page gave the upload.
 */

const utf8 = new TextDecoder();

/**
 * A file the page uploaded (`<input type="file" data-action="load_csv">`,
 * or `connection.upload('load_csv', file)`): the handler of the action gets
 * it once every byte has arrived. Its bytes are in memory (at most the
 * server's `maxUploadBytes`); nothing is written to disk.
 *
 * @example
 * async on_load_csv(file: UploadedFile) {
 *   const rows = parseCsv(file.text());
 *   this.data.name = file.name;
 * }
 */
export class UploadedFile {
  /**
   * @param name  the file's name on the user's machine (no folder)
   * @param type  its MIME type as the browser guessed it (`text/csv`), or `''`
   * @param data  its bytes
   */
  constructor(
    readonly name: string,
    readonly type: string,
    private readonly data: Uint8Array,
  ) {}

  /** The file's size in bytes. */
  get size(): number {
    return this.data.byteLength;
  }

  /** The file's bytes (the same array on every call: copy it before changing it). */
  bytes(): Uint8Array {
    return this.data;
  }

  /** The file's bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string {
    return utf8.decode(this.data);
  }

  /** What a log line or `JSON.stringify` shows: the name, type and size, never the bytes. */
  toJSON(): { name: string; type: string; size: number } {
    return { name: this.name, type: this.type, size: this.size };
  }
}

/**
 * @internal The message of an action that the server (not the page's JSON)
 * made: its handlers get `args` as positional arguments, and the call has
 * `__process` frames when `processId` is not null. An upload's action is
 * called this way: `[file]` (or `[[file, …]]`) whatever its parameter is named.
 */
export class PositionalCall {
  constructor(
    readonly args: unknown[],
    readonly processId: string | number | null,
  ) {}
}
