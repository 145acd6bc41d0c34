import type { IncomingMessage } from 'node:http';
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** An IPv4 address written as IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`), as IPv4. */
function unmapIPv4(address: string): string {
  const lower = address.toLowerCase();
  const dotted =
    /^(?:0{0,4}:){5}ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower) ??
    /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1] && isIPv4(dotted[1])) return dotted[1];
  const hex = /^(?:(?:0{0,4}:){5}|::)ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex?.[1] && hex[2]) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return address;
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  let text = address.toLowerCase().replace(/%.*$/, '');
  // a dotted IPv4 tail is two groups
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text =
      text.slice(0, tail.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(fill).fill('0'), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 ? groups : undefined;
}

/**
 * Whether a bound address is a loopback one, decided on the address and not
 * its spelling: `127.0.0.0/8`, `::1` and IPv4 loopback written as IPv6
 * (`::ffff:127.0.0.1`, `0:0:0:0:0:ffff:7f00:1`), and the name `localhost`.
 *
 * @example isLoopbackAddress('::ffff:127.0.0.1') // true
 */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, '$1');
  if (/^(?:[^.]+\.)?localhost\.?$/i.test(bare)) return true;
  const v4 = unmapIPv4(bare);
  if (isIPv4(v4)) return v4.startsWith('127.');
  const groups = ipv6Groups(bare);
  return groups !== undefined && groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1;
}

/**
 * The owner of every page of a server bound to a loopback address: its
 * pages are all on this machine (or behind a proxy on it), so they share
 * one share of what the backend retains, as their addresses would give.
 */
export const LOOPBACK_OWNER = 'loopback';

/**
 * Who a remote address is for per-client bounds: an IPv4 address as it is
 * (unmapped from `::ffff:…`), an IPv6 address as its /64 (one machine
 * usually has a whole /64 to pick addresses from).
 *
 * @example retentionOwner('2001:db8::1234') // '2001:db8:0:0::/64'
 */
export function retentionOwner(address: string): string {
  const v4 = unmapIPv4(address);
  if (isIPv4(v4)) return v4;
  const groups = ipv6Groups(address);
  if (!groups) return address;
  return (
    groups
      .slice(0, 4)
      .map((g) => g.toString(16))
      .join(':') + '::/64'
  );
}

/**
 * The client address a reverse proxy forwards: the last entry of
 * `X-Forwarded-For`, the one the proxy nearest to us added (entries before it
 * come from the client, who may write anything there), or undefined when
 * there is none or it is not an IP address.
 *
 * @example forwardedClient('198.51.100.1, 203.0.113.7') // '203.0.113.7'
 */
export function forwardedClient(header: string | string[] | undefined): string | undefined {
  // Node joins repeated X-Forwarded-For lines with commas; a list is read the same
  const text = Array.isArray(header) ? header[header.length - 1] : header;
  if (text === undefined) return undefined;
  const last = text.slice(text.lastIndexOf(',') + 1).trim();
  return isIP(last) !== 0 ? last : undefined;
}

/**
 * The Origin check of WebSockets and of state-changing routes: no `Origin`
 * (not a browser), an origin listed in `allowOrigins`, or one whose host is
 * the request's own `Host`. Anything else (another site, `null`) is refused.
 *
 * @example isOriginAllowed('http://evil.example', 'localhost:5000', new Set()) // false
 */
export function isOriginAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowOrigins: ReadonlySet<string>,
): boolean {
  if (origin === undefined || allowOrigins.has(origin)) return true;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return false;
  }
  return host !== undefined && originHost === host.toLowerCase();
}

/**
 * The Origin check of WebSockets, for a request that changes state (an
 * upload, a sign-in form, a sign-out): a browser that sends no Origin but
 * says the request is cross-site (`Sec-Fetch-Site`) is refused too.
 */
export function isSameSiteRequest(
  req: IncomingMessage,
  allowOrigins: ReadonlySet<string>,
): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return req.headers['sec-fetch-site'] !== 'cross-site';
  return isOriginAllowed(origin, req.headers.host, allowOrigins);
}

/** The origin of the base a return path is read against (never a real host). */
const LOCAL = 'http://databench.invalid';

/**
 * A local path to go back to: `/…` of this server, never `//other.site`.
 * Read as a browser reads a Location (tabs and newlines dropped, `\` as
 * `/`), so `/\t/other.site` does not pass for a path; the path returned is
 * the parsed one, as the browser would request it, with its leading
 * slashes made one (dot segments can collapse into `//other.site`).
 */
export function safeNext(next: string | null | undefined): string {
  if (!next?.startsWith('/')) return '/';
  let url: URL;
  try {
    url = new URL(next, LOCAL);
  } catch {
    return '/';
  }
  if (url.origin !== LOCAL) return '/';
  // dot segments can collapse into a leading `//` (`/.//other.site`), which a
  // browser reads as another host: one slash is a path of this server
  const path = url.pathname.replace(/^[/\\]+/, '/');
  return path + url.search + url.hash;
}
