/**
 * index.yaml normalised once: the parsed YAML becomes a typed
 * {@link IndexConfig} (the folder's settings and one {@link EntryConfig} per
 * analysis), with every problem collected as an error instead of thrown, so
 * one bad key never keeps the other analyses from serving. loadApp, the
 * server's options, `--build` and `--workers` all read index.yaml through here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** The keys index.yaml's top level may have (a docs test checks the reference lists each). */
export const ANALYSES_KEYS = [
  'title',
  'description',
  'author',
  'version',
  'analyses',
  'static',
  'build',
  'watch',
  'datastore',
  'allow',
  'oidc',
  'secret',
] as const;

/** The keys of index.yaml's `oidc` mapping (a docs test checks the reference lists each). */
export const OIDC_KEYS = [
  'issuer',
  'client_id',
  'client_secret',
  'public_url',
  'scope',
  'groups_claim',
  'session_max_age',
] as const;

/** The keys an entry of index.yaml's `analyses` list may have (a docs test checks the reference lists each). */
export const ENTRY_KEYS = [
  'name',
  'title',
  'description',
  'show_in_index',
  'kernel',
  'threads',
  'memory_mb',
  'processes',
  'python',
  'load_timeout',
  'watch',
  'build',
  'resume_on_reload',
  'allow',
] as const;

/** A problem of index.yaml: who it concerns (`index.yaml`, or an analysis's name) and what is wrong. */
export interface ConfigError {
  name: string;
  message: string;
}

/** The folder-level settings of index.yaml, with their defaults. */
export interface AnalysesConfig {
  /** `title`. Default: `databench`. */
  title: string;
  /** `description`. Default: empty. */
  description: string;
  /** `author`. Default: empty. */
  author: string;
  /** `version`. Default: empty. */
  version: string;
  /**
   * `static`: URL regex (one capture group) → folder, as written (relative
   * to the analyses folder). Default: none.
   */
  static: Array<[pattern: RegExp, folder: string]>;
  /** `build`: a shell command `databench --build` runs in the analyses folder. */
  build: string | undefined;
  /** `watch`: globs of more files whose change reloads the analyses. Default: none. */
  watch: string[];
  /** `datastore`: where `data` and `classData` live (`memory` or a `redis://` URL). */
  datastore: string | undefined;
  /**
   * `allow`: who may open the analyses that have no `allow` of their own
   * (user ids, emails, `group:NAME`, `*` for anyone signed in). Default:
   * undefined (everyone who passes the token or login).
   */
  allow: string[] | undefined;
  /**
   * `oidc`: the OpenID Connect login (its presence turns it on, as `--auth
   * oidc` does); the server's options and the environment win over each of
   * its settings. Default: undefined (no login from index.yaml).
   */
  oidc: OidcConfig | undefined;
  /** `secret`: the key material of the login's cookies (`--secret` and `DATABENCH_SECRET` win). */
  secret: SecretSetting | undefined;
  /**
   * What is wrong with `oidc` or `secret`: the server refuses to start with
   * these (a login set up wrong must not fall back to no login).
   */
  authErrors: string[];
  /** Top-level keys databench does not read (a typo, or a key of another tool). */
  unknownKeys: string[];
}

/**
 * A secret in index.yaml: the name of the environment variable that holds it
 * (`{ env: NAME }`, the way to keep it out of a file that is committed), or
 * the value itself (accepted, with a warning in the log).
 */
export type SecretSetting =
  | { readonly env: string; readonly value?: undefined }
  | { readonly value: string; readonly env?: undefined };

/** index.yaml's `oidc` mapping, normalised (camelCase; absent keys undefined). */
export interface OidcConfig {
  /** `issuer`: the provider's issuer URL (http or https). */
  issuer: string | undefined;
  /** `client_id`: this server's client id at the provider (a number is taken as its digits). */
  clientId: string | undefined;
  /** `client_secret`: the client secret; undefined: a public client (PKCE alone). */
  clientSecret: SecretSetting | undefined;
  /** `public_url`: the URL browsers reach this server at. */
  publicUrl: string | undefined;
  /** `scope`: the scopes asked for (must include `openid`). */
  scope: string | undefined;
  /** `groups_claim`: the claim that lists the user's groups. */
  groupsClaim: string | undefined;
  /** `session_max_age`, in seconds in index.yaml: how long a login holds. */
  sessionMaxAgeMs: number | undefined;
}

/** One analysis of index.yaml's `analyses` list, with its defaults. */
export interface EntryConfig {
  /** `name`: the analysis's folder and URL path; an identifier. */
  name: string;
  /** `title`. Default: the name. */
  title: string;
  /** `description`. Default: empty. */
  description: string;
  /** `show_in_index`. Default: true. */
  showInIndex: boolean;
  /**
   * `kernel`: what runs its sessions (`worker`, `py`, `pyspark`); undefined: by its
   * folder's source, `py` for an `analysis.py` alone (as databench 0.7 ran
   * it), else the server's own thread.
   */
  kernel: string | undefined;
  /** `threads`: a worker kernel's pool size. Default: the number of cores. */
  threads: number | undefined;
  /**
   * `memory_mb`: a worker kernel's heap limit per thread, in MiB; past it
   * (or past as much memory outside the heap, Buffers) the thread is ended
   * and replaced. Default: Node's (about 4 GB).
   */
  memoryMb: number | undefined;
  /** `processes`: a Python kernel's processes at most. Default: 1. */
  processes: number | undefined;
  /**
   * `python`: a Python kernel's interpreter. Default: `DATABENCH_PYTHON`, else
   * the active virtualenv's, else `python3` on PATH, else `/usr/bin/python3`.
   */
  python: string | undefined;
  /**
   * `load_timeout`, in seconds in index.yaml: how long a Python kernel may
   * take to load `analysis.py` before the load fails and its process is
   * ended. Default: 30 s.
   */
  loadTimeoutMs: number | undefined;
  /** `watch`: globs of more files whose change reloads it. Default: none. */
  watch: string[];
  /** `build`: a shell command `databench --build` runs in its folder. */
  build: string | undefined;
  /**
   * `resume_on_reload`: a page loaded again (reloaded by a save, refreshed)
   * resumes its session and gets its `data` back. Default: true.
   */
  resumeOnReload: boolean;
  /** `allow`: who may open it (see {@link AnalysesConfig.allow}); undefined: the folder's rule. */
  allow: string[] | undefined;
  /** Keys of the entry databench does not read. */
  unknownKeys: string[];
  /**
   * Why the analysis cannot run as configured (a `threads`, `processes`,
   * `python` or `load_timeout` it cannot use); it fails to load with this message.
   */
  error: string | undefined;
}

/** index.yaml as databench reads it. */
export interface IndexConfig {
  /** The folder-level settings. */
  analyses: AnalysesConfig;
  /**
   * The `analyses` list, in order; undefined when there is none (then every
   * subfolder with an analysis source is an analysis).
   */
  entries: EntryConfig[] | undefined;
  /** Problems found; a value with a problem falls back to its default. */
  errors: ConfigError[];
  /** False when index.yaml is not YAML, or not a mapping: none of it could be read. */
  readable: boolean;
}

/** index.yaml of a folder: its text (undefined when there is none) and its config. */
export interface IndexYaml {
  text: string | undefined;
  config: IndexConfig;
}

/** An analysis name: an identifier, and not one of the server's own paths. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['static', '_static', 'node_modules', 'ws', 'index', 'index.html']);

/**
 * A `static` key as a regex on the request path. `^…` is used as written;
 * otherwise it is matched the way databench 0.7 (Tornado) did: from the
 * start of the path after its `/`, to the end (`static/(.*)`,
 * `node_modules/(test_file\.txt)`).
 */
export function staticPattern(pattern: string): RegExp {
  if (pattern.startsWith('^')) return new RegExp(pattern);
  const body = pattern.replace(/^\//, '');
  return new RegExp('^/' + body + (body.endsWith('$') ? '' : '$'));
}

/** A value in a message: JSON where it has one, else its kind. */
function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Reads one mapping's keys, each with its type, and collects what is wrong. */
class Reader {
  constructor(
    private readonly map: Record<string, unknown>,
    /** `index.yaml` or `index.yaml: analysis "x"`: the start of each message. */
    private readonly where: string,
    /** Who the errors concern (`index.yaml` or the analysis's name). */
    private readonly name: string,
    private readonly errors: ConfigError[],
  ) {}

  private wrong(key: string, expected: string, value: unknown): void {
    this.errors.push({
      name: this.name,
      message: `${this.where}: ${key} must be ${expected}, got ${shown(value)}`,
    });
  }

  /** A text; a number is taken as its digits (`version: 1.0` is YAML's number). */
  text(key: string, fallback: string): string {
    const value = this.map[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
    this.wrong(key, 'a string', value);
    return fallback;
  }

  optionalText(key: string): string | undefined {
    const value = this.map[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    this.wrong(key, 'a string', value);
    return undefined;
  }

  flag(key: string, fallback: boolean): boolean {
    const value = this.map[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    this.wrong(key, 'true or false', value);
    return fallback;
  }

  /** One glob or a list of them. */
  globs(key: string): string[] {
    const value = this.map[key];
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    this.wrong(key, 'a glob or a list of globs', value);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  }

  /**
   * An `allow` rule: one name or a list of them; undefined when absent. A
   * rule that cannot be read allows nobody (a typo must not open an analysis).
   */
  allow(key: string): string[] | undefined {
    const value = this.map[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string' && value !== '') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '')) {
      return value as string[];
    }
    this.wrong(
      key,
      'a user id, an email, group:NAME or *, or a list of them (until it is fixed, nobody may open it)',
      value,
    );
    return [];
  }

  /** The keys of this mapping not in `known`. */
  unknown(known: readonly string[]): string[] {
    return Object.keys(this.map).filter((key) => !known.includes(key));
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `static`: one mapping or a list of them, regex → folder. */
function staticMap(value: unknown, errors: ConfigError[]): Array<[RegExp, string]> {
  if (value === undefined || value === null) return [];
  const maps = Array.isArray(value) ? value : [value];
  const out: Array<[RegExp, string]> = [];
  for (const map of maps) {
    if (!isMapping(map)) {
      errors.push({
        name: 'index.yaml',
        message: `index.yaml: static must be a mapping of URL regex to folder (or a list of them), got ${shown(map)}`,
      });
      continue;
    }
    for (const [pattern, folder] of Object.entries(map)) {
      if (typeof folder !== 'string' || folder === '') {
        errors.push({
          name: 'index.yaml',
          message: `index.yaml: static ${pattern} must map to a folder, got ${shown(folder)}`,
        });
        continue;
      }
      try {
        out.push([staticPattern(pattern), folder]);
      } catch (error) {
        errors.push({
          name: 'index.yaml',
          message: `static: bad regex ${pattern}: ${(error as Error).message}`,
        });
      }
    }
  }
  return out;
}

/** `threads`, `processes` or `memory_mb`: undefined, or a whole number of at least `min`. */
function count(
  item: Record<string, unknown>,
  key: 'threads' | 'processes' | 'memory_mb',
  where: string,
  min = 1,
) {
  const value = item[key];
  if (
    value === undefined ||
    (typeof value === 'number' && Number.isInteger(value) && value >= min)
  ) {
    return { value, error: undefined };
  }
  return {
    value: undefined,
    error: `${where}: ${key} must be a whole number of at least ${min}, got ${shown(value)}`,
  };
}

/** The smallest number of edits (insert, delete, replace a character) from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        (row[j] ?? 0) + 1,
        (next[j - 1] ?? 0) + 1,
        (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/**
 * The known key nearest to an unknown one, when it is near enough to be a
 * typo of it (case aside: one edit in a key of up to 3 characters, else two
 * or a third of its characters, whichever is more).
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const allowed = key.length <= 3 ? 1 : Math.max(2, Math.floor(key.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** The warning for an unknown key of index.yaml (`where`: `index.yaml` or its analysis). */
export function unknownKeyWarning(where: string, key: string, known: readonly string[]): string {
  const near = nearestKey(key, known);
  return `${where}: unknown key ${shown(key)} is ignored${near === undefined ? '' : ` (did you mean "${near}"?)`}`;
}

/** Whether `value` is an absolute http: or https: URL. */
function isHttpUrl(value: string): boolean {
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** An environment variable's name, as a `{ env: NAME }` secret gives it. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A secret of index.yaml (`key` as written, for messages): a string, or `{ env: NAME }`. */
function secretSetting(value: unknown, key: string, errors: string[]): SecretSetting | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value !== '') return { value };
  if (isMapping(value)) {
    const keys = Object.keys(value);
    const name = value['env'];
    if (keys.length === 1 && typeof name === 'string' && ENV_NAME.test(name)) return { env: name };
  }
  errors.push(
    `index.yaml: ${key} must be { env: NAME } (the environment variable that holds it) or the secret itself, got ${
      typeof value === 'string'
        ? '""'
        : isMapping(value)
          ? Object.keys(value).join() === 'env'
            ? shown(value)
            : `a mapping with the keys ${shown(Object.keys(value))}`
          : // the value may be the secret: never part of the message
            `a ${Array.isArray(value) ? 'list' : typeof value}`
    }`,
  );
  return undefined;
}

/**
 * index.yaml's `oidc` mapping: every value checked, every problem in
 * `errors` (as `index.yaml: oidc.KEY …`). An unknown key is an error too: a
 * misspelt `client_secret` must not quietly make a public client.
 */
function oidcConfig(value: unknown, errors: string[]): OidcConfig | undefined {
  if (value === undefined) return undefined;
  if (!isMapping(value)) {
    errors.push(
      `index.yaml: oidc must be a mapping (issuer, client_id, client_secret, …), got ${shown(value)}`,
    );
    return undefined;
  }
  const wrong = (key: string, expected: string, got: unknown): undefined => {
    errors.push(`index.yaml: oidc.${key} must be ${expected}, got ${shown(got)}`);
    return undefined;
  };
  const text = (key: string, check?: (v: string) => boolean, expected = 'a string') => {
    const v = value[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && v !== '' && (check === undefined || check(v))) return v;
    return wrong(key, expected, v);
  };
  for (const key of Object.keys(value)) {
    if ((OIDC_KEYS as readonly string[]).includes(key)) continue;
    const near = nearestKey(key, OIDC_KEYS);
    errors.push(
      `index.yaml: oidc has an unknown key ${shown(key)}${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
    );
  }
  const id = value['client_id'];
  const age = value['session_max_age'];
  return {
    issuer: text('issuer', isHttpUrl, "an http(s) URL (the provider's issuer)"),
    clientId:
      typeof id === 'number' && Number.isSafeInteger(id)
        ? String(id)
        : text('client_id', undefined, "a string (this server's client id at the provider)"),
    clientSecret: secretSetting(value['client_secret'], 'oidc.client_secret', errors),
    publicUrl: text(
      'public_url',
      isHttpUrl,
      'an http(s) URL (the URL browsers reach this server at)',
    ),
    scope: text(
      'scope',
      (v) => v.split(/\s+/).includes('openid'),
      'a list of scopes separated by spaces that includes openid',
    ),
    groupsClaim: text('groups_claim', undefined, 'the name of a claim'),
    sessionMaxAgeMs:
      age === undefined || age === null
        ? undefined
        : typeof age === 'number' && Number.isFinite(age) && age >= 1
          ? Math.round(age * 1000)
          : wrong('session_max_age', 'a number of seconds of at least 1', age),
  };
}

/**
 * One analysis entry (a name, or a mapping with `name`) as an
 * {@link EntryConfig}; undefined, with an error collected, when it has no
 * usable name. Also makes the entries of a folder without a list.
 */
export function normalizeEntry(
  raw: unknown,
  index: number,
  errors: ConfigError[],
): EntryConfig | undefined {
  const item = typeof raw === 'string' ? { name: raw } : raw;
  const name = isMapping(item) && typeof item['name'] === 'string' ? item['name'] : '';
  if (!isMapping(item) || !NAME.test(name) || RESERVED.has(name)) {
    errors.push({
      name: name || `analyses[${index}]`,
      message: `index.yaml: analyses[${index}] needs a "name" that is an identifier (letters, digits, _) and not reserved; got ${shown(raw)}`,
    });
    return undefined;
  }
  const where = `index.yaml: analysis "${name}"`;
  const read = new Reader(item, where, name, errors);
  const threads = count(item, 'threads', where);
  const processes = count(item, 'processes', where);
  // below 16 MiB a thread cannot start
  const memoryMb = count(item, 'memory_mb', where, 16);
  const loadTimeout = item['load_timeout'];
  const loadTimeoutError =
    loadTimeout !== undefined &&
    !(typeof loadTimeout === 'number' && Number.isFinite(loadTimeout) && loadTimeout > 0)
      ? `${where}: load_timeout must be a number of seconds above 0, got ${shown(loadTimeout)}`
      : undefined;
  const python = item['python'];
  const pythonError =
    python !== undefined && (typeof python !== 'string' || python === '')
      ? `${where}: python must be the path or name of an interpreter, got ${shown(python)}`
      : undefined;
  return {
    name,
    title: read.text('title', name),
    description: read.text('description', ''),
    showInIndex: read.flag('show_in_index', true),
    kernel: read.optionalText('kernel'),
    threads: threads.value,
    memoryMb: memoryMb.value,
    processes: processes.value,
    python: pythonError === undefined ? (python as string | undefined) : undefined,
    loadTimeoutMs:
      loadTimeoutError === undefined && typeof loadTimeout === 'number'
        ? Math.round(loadTimeout * 1000)
        : undefined,
    watch: read.globs('watch'),
    build: read.optionalText('build'),
    resumeOnReload: read.flag('resume_on_reload', true),
    allow: read.allow('allow'),
    unknownKeys: read.unknown(ENTRY_KEYS),
    error: threads.error ?? memoryMb.error ?? processes.error ?? pythonError ?? loadTimeoutError,
  };
}

/**
 * The parsed YAML of index.yaml (`undefined` when there is no file) as an
 * {@link IndexConfig}. Never throws: what is wrong is in `errors`, and the
 * value falls back to its default.
 *
 * @example
 * normalizeIndexConfig({ title: 'Demos', analyses: ['hello', { name: 'pi', kernel: 'worker' }] })
 */
export function normalizeIndexConfig(parsed: unknown): IndexConfig {
  const errors: ConfigError[] = [];
  let map: Record<string, unknown> = {};
  let readable = true;
  if (isMapping(parsed)) map = parsed;
  else if (parsed !== null && parsed !== undefined) {
    errors.push({ name: 'index.yaml', message: 'index.yaml must be a mapping' });
    readable = false;
  }
  const read = new Reader(map, 'index.yaml', 'index.yaml', errors);
  const authErrors: string[] = [];
  const oidc = oidcConfig(map['oidc'], authErrors);
  const secret = secretSetting(map['secret'], 'secret', authErrors);
  errors.push(...authErrors.map((message) => ({ name: 'index.yaml', message })));
  const analyses: AnalysesConfig = {
    title: read.text('title', 'databench'),
    description: read.text('description', ''),
    author: read.text('author', ''),
    version: read.text('version', ''),
    static: staticMap(map['static'], errors),
    build: read.optionalText('build'),
    watch: read.globs('watch'),
    datastore: read.optionalText('datastore'),
    allow: read.allow('allow'),
    oidc,
    secret,
    authErrors,
    unknownKeys: read.unknown(ANALYSES_KEYS),
  };
  let entries: EntryConfig[] | undefined;
  const list = map['analyses'];
  if (Array.isArray(list)) {
    entries = [];
    const names = new Set<string>();
    for (const [index, raw] of list.entries()) {
      const entry = normalizeEntry(raw, index, errors);
      if (!entry) continue;
      if (names.has(entry.name)) {
        errors.push({
          name: entry.name,
          message: `index.yaml: analysis "${entry.name}" is listed twice`,
        });
        continue;
      }
      names.add(entry.name);
      entries.push(entry);
    }
  } else if (list !== undefined && list !== null) {
    errors.push({
      name: 'index.yaml',
      message: `index.yaml: analyses must be a list (of names, or of mappings with a name), got ${shown(list)}; serving every analysis folder instead`,
    });
  }
  return { analyses, entries, errors, readable };
}

/** index.yaml's text (undefined when there is none) as an {@link IndexConfig}; bad YAML is an error in it. */
export function parseIndexYaml(text: string | undefined): IndexConfig {
  if (text === undefined) return normalizeIndexConfig(undefined);
  let parsed: unknown;
  try {
    parsed = parseYaml(text) as unknown;
  } catch (error) {
    const config = normalizeIndexConfig(undefined);
    config.errors.push({ name: 'index.yaml', message: `index.yaml: ${(error as Error).message}` });
    return { ...config, readable: false };
  }
  return normalizeIndexConfig(parsed);
}

/** Read and normalise `dir/index.yaml` (a folder without one has the defaults). */
export async function readIndexYaml(dir: string): Promise<IndexYaml> {
  let text: string | undefined;
  try {
    text = await readFile(join(dir, 'index.yaml'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { text, config: parseIndexYaml(text) };
}
