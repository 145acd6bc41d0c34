/**
 * Whether `text` is exactly one JSON value (RFC 8259, what `JSON.parse`
 * accepts), with optional whitespace around it. A syntax check only: it
 * builds nothing, so it costs one pass over the characters and, for nested
 * containers, one byte per level of nesting.
 *
 * Encoded values that come from outside the process (a shared datastore)
 * are spliced into frames as they are: one that is not a single JSON value
 * could close the frame's object and add keys of its own.
 *
 * @example
 * isJsonText('{"a":[1,2.5e3,"x"]}'); // true
 * isJsonText('1},"signal":"evil"'); // false
 */
export function isJsonText(text: string): boolean {
  const n = text.length;
  // the open containers, innermost last: OBJECT or ARRAY (grown on demand)
  let stack: Uint8Array | undefined;
  let depth = 0;
  let i = skipSpace(text, 0);
  for (;;) {
    // a value starts at i
    if (i >= n) return false;
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      i = skipSpace(text, i + 1);
      const close = c === 0x7b ? 0x7d : 0x5d;
      if (text.charCodeAt(i) === close) {
        i++;
      } else {
        if (stack === undefined) stack = new Uint8Array(16);
        else if (depth === stack.length) {
          const grown = new Uint8Array(depth * 2);
          grown.set(stack);
          stack = grown;
        }
        stack[depth++] = c === 0x7b ? OBJECT : ARRAY;
        if (c === 0x7b) {
          i = member(text, i);
          if (i < 0) return false;
        }
        continue;
      }
    } else if (c === 0x22 /* " */) {
      i = skipString(text, i);
      if (i < 0) return false;
    } else if (c === 0x74 /* t */) {
      if (!text.startsWith('true', i)) return false;
      i += 4;
    } else if (c === 0x66 /* f */) {
      if (!text.startsWith('false', i)) return false;
      i += 5;
    } else if (c === 0x6e /* n */) {
      if (!text.startsWith('null', i)) return false;
      i += 4;
    } else {
      i = skipNumber(text, i);
      if (i < 0) return false;
    }
    // after a value: close containers, or a comma and the next value
    for (;;) {
      i = skipSpace(text, i);
      if (depth === 0) return i === n;
      const d = text.charCodeAt(i);
      const top = stack![depth - 1];
      if (d === 0x2c /* , */) {
        i = skipSpace(text, i + 1);
        if (top === OBJECT) {
          i = member(text, i);
          if (i < 0) return false;
        }
        break;
      }
      if (d !== (top === OBJECT ? 0x7d : 0x5d)) return false;
      depth--;
      i++;
    }
  }
}

const OBJECT = 1;
const ARRAY = 2;

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** `"key" :` and the space after it, from the key's quote; -1 when it is not one. */
function member(text: string, i: number): number {
  if (text.charCodeAt(i) !== 0x22) return -1;
  i = skipString(text, i);
  if (i < 0) return -1;
  i = skipSpace(text, i);
  if (text.charCodeAt(i) !== 0x3a /* : */) return -1;
  return skipSpace(text, i + 1);
}

/** A run of string characters that need no look: no quote, backslash or control character. */
// eslint-disable-next-line no-control-regex -- control characters are what a JSON string may not hold
const PLAIN = /[^"\\\x00-\x1f]*/y;
/** An escape: one of `" \ / b f n r t`, or `u` and four hex digits. */
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/** Characters of a string looked at one by one before the rest goes to {@link PLAIN} (short strings are the common case). */
const SHORT = 32;

/** Past a string that starts at `i` (its quote); -1 when it is not a JSON string. */
function skipString(text: string, i: number): number {
  i++;
  const short = Math.min(text.length, i + SHORT);
  for (; i < short; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c || c < 0x20) break;
  }
  for (;;) {
    PLAIN.lastIndex = i;
    PLAIN.test(text);
    i = PLAIN.lastIndex;
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c !== 0x5c) return -1; // a control character, or the end
    ESCAPE.lastIndex = i;
    if (!ESCAPE.test(text)) return -1;
    i = ESCAPE.lastIndex;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Past a number that starts at `i`; -1 when it is not a JSON number. */
function skipNumber(text: string, i: number): number {
  if (text.charCodeAt(i) === 0x2d /* - */) i++;
  const first = text.charCodeAt(i);
  if (first === 0x30) {
    i++;
  } else if (first >= 0x31 && first <= 0x39) {
    i++;
    while (isDigit(text.charCodeAt(i))) i++;
  } else {
    return -1;
  }
  if (text.charCodeAt(i) === 0x2e /* . */) {
    i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}
