import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.ts';
import { escapeControl } from '../util/escape.ts';
import { findJsonSyntaxError } from './json-syntax.ts';

/**
 * A user's file (config, policy) as text and data: what is wrong with the
 * text itself — binary, empty, not valid UTF-8, a syntax error — is one
 * ConfigError with the line where the problem starts; what is right comes
 * with a map from a path inside the data (pools[2].kernel) to its line.
 */
export interface ParsedSource {
  data: unknown;
  /** The line of the node at PATH, or of its nearest ancestor that is in the file. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** The bytes of a file as text: refuses binary content and invalid UTF-8, drops a byte-order mark. */
export function decodeSource(bytes: Uint8Array, file: string): string {
  const nul = bytes.indexOf(0);
  const bad = firstInvalidUtf8(bytes);
  if (nul >= 0 && (bad < 0 || nul < bad)) throw textError(file, bytes, nul, 'a text file (YAML or JSON), but this one is binary (a NUL byte here)');
  if (bad >= 0) throw textError(file, bytes, bad, `a text file in UTF-8, but byte 0x${bytes[bad]!.toString(16).padStart(2, '0')} here is not valid UTF-8 (binary file, or another encoding)`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/**
 * Parses TEXT: strict JSON when FILE ends in .json (a trailing comma is an
 * error, as in every JSON parser), YAML otherwise. WHAT names the kind of
 * file in the message for an empty one (e.g. 'a pools file with at least "pools:"').
 */
export function parseSource(text: string, file: string, what: string): ParsedSource {
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new ConfigError(file, position(text, nul), 'a text file (YAML or JSON), but this one is binary (a NUL byte here)');
  const json = /\.json$/i.test(file);
  if (!text.trim()) throw new ConfigError(file, 'line 1', `${what}, but the file is empty`);
  let data: unknown;
  if (json) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      const found = findJsonSyntaxError(text);
      if (found) throw new ConfigError(file, position(text, found.offset), `strict JSON (the file ends in .json): expected ${found.message}`);
      throw new ConfigError(file, 'line 1', `strict JSON (the file ends in .json): ${escapeControl((e as Error).message)}`, undefined, { cause: e });
    }
  }
  const lines = new LineCounter();
  // For JSON the YAML parser only maps paths to lines (JSON is YAML's flow syntax); its opinion on validity does not count.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: !json, lineCounter: lines });
  if (!json) {
    const err = doc.errors[0];
    if (err) throw yamlError(file, text, doc, err.code, err.message, err.pos[0]);
    data = doc.toJS();
    if (data === null || data === undefined) throw new ConfigError(file, 'line 1', `${what}, but the file has no content (only comments or a null document)`);
  }
  return { data, lineOf: (path) => lineOfPath(doc, lines, path) };
}

function yamlError(file: string, text: string, doc: Document, code: string, message: string, offset: number): ConfigError {
  let first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'MISSING_CHAR' && /quote/.test(message)) {
    // The parser notices at the end of the file; the problem starts at the opening quote.
    let start: number | undefined;
    visit(doc, {
      Scalar(_, node) {
        if ((node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && node.range && node.range[1] === offset) start = node.range[0];
      },
    });
    if (start !== undefined) return new ConfigError(file, position(text, start), `valid YAML or JSON: a closing ${text[start]} for the quote opened here (unclosed quote)`);
    first = `${first} (unclosed quote)`;
  }
  return new ConfigError(file, position(text, offset), `valid YAML or JSON (${escapeControl(first)})`);
}

/** "line L, column C" of a 0-based offset. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - (before.lastIndexOf('\n') + 1) + 1}`;
}

function textError(file: string, bytes: Uint8Array, offset: number, expected: string): ConfigError {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      col = 1;
    } else if ((bytes[i]! & 0xc0) !== 0x80) col++;
  }
  return new ConfigError(file, `line ${line}, column ${col}`, expected);
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const [n, min] = c >= 0xc2 && c <= 0xdf ? [1, 0x80] : c >= 0xe0 && c <= 0xef ? [2, 0x800] : c >= 0xf0 && c <= 0xf4 ? [3, 0x10000] : [0, 0];
    if (!n) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

function lineOfPath(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  let node: Node | null | undefined = doc.contents;
  let at: number | undefined = node?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const key = pair.key as Node;
      at = key.range?.[0] ?? at;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      at = item.range?.[0] ?? at;
      node = item;
    } else break;
  }
  return at === undefined ? undefined : lines.linePos(at).line;
}
