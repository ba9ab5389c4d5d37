/**
 * Credentials in URLs never reach an output: a mirror given as
 * https://user:password@host/debian?token=T is shown as
 * https://***@host/debian?token=***.
 */

const MASK = '***';

/** One URL with its user info and query values masked (the text is kept as given otherwise). */
export function redactUrl(url: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)(.*)$/s.exec(url);
  if (!m) return url;
  const scheme = m[1]!;
  let rest = m[2]!;
  // User info ends at the last "@" before the query: a password with an unencoded "/" or "@" is still masked whole.
  const end = rest.search(/[?#]/);
  const at = (end < 0 ? rest : rest.slice(0, end)).lastIndexOf('@');
  if (at >= 0) rest = `${MASK}@${rest.slice(at + 1)}`;
  const q = rest.indexOf('?');
  if (q < 0) return scheme + rest;
  const hash = rest.indexOf('#', q);
  const query = hash < 0 ? rest.slice(q + 1) : rest.slice(q + 1, hash);
  return `${scheme}${rest.slice(0, q)}?${maskQuery(query)}${hash < 0 ? '' : rest.slice(hash)}`;
}

/** Every URL inside free text (an error message, a log line) redacted. */
export function redactUrlsIn(text: string): string {
  return text.replace(/\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>`]+/g, (m) => redactUrl(m));
}

/** A copy of a JSON-like value with every string passed through redactUrlsIn. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactUrlsIn(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}

function maskQuery(query: string): string {
  return query
    .split('&')
    .map((kv) => {
      const eq = kv.indexOf('=');
      return eq < 0 ? kv : `${kv.slice(0, eq)}=${MASK}`;
    })
    .join('&');
}
