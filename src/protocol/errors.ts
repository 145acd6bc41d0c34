/**
 * The base of every error databench throws on purpose. `code` is stable and
 * meant for programs; `message` is for people.
 *
 * @example
 * try { store.set('x', cyclic) } catch (e) { if (e instanceof DatabenchError && e.code === 'ENCODE_CYCLE') … }
 */
export class DatabenchError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabenchError';
    this.code = code;
  }
}

/** A frame that does not follow PROTOCOL.md (bad JSON, not an object, wrong field type). */
export class ProtocolError extends DatabenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROTOCOL', message, options);
    this.name = 'ProtocolError';
  }
}
