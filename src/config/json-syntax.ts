/**
 * Where strict JSON text goes wrong, for a message with a line and column:
 * JSON.parse says "Unexpected token" without a position for some mistakes
 * (a trailing comma in an array), and quotes the text it choked on. This
 * scanner follows the JSON grammar (RFC 8259) and stops at the first error,
 * naming the place where the problem starts: the comma of a trailing comma,
 * the opening quote of a string that is not closed on its line, the bracket
 * that is never closed.
 */
export interface JsonSyntaxError {
  offset: number;
  message: string;
}

class Stop extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.offset = offset;
  }
}

const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const show = (c: string | undefined) => (c === undefined ? 'the end of the file' : JSON.stringify(c));
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    for (const word of ['true', 'false', 'null']) if (text.startsWith(word, i)) return void (i += word.length);
    if (c === undefined) throw new Stop(i, 'a value, but the file ends here');
    if (c === "'") throw new Stop(i, 'a string in double quotes (JSON has no single-quoted strings)');
    if (c === '/' && '/*'.includes(text[i + 1] ?? '')) throw new Stop(i, 'a value; JSON has no comments (use YAML for comments)');
    throw new Stop(i, `a value, not ${show(c)}`);
  };
  const object = (): void => {
    const open = i++;
    ws();
    if (text[i] === '}') return void i++;
    for (;;) {
      ws();
      if (text[i] !== '"') {
        if (text[i] === undefined) throw new Stop(open, 'a closing } for the { opened here');
        throw new Stop(i, `a key in double quotes, not ${show(text[i])}`);
      }
      string();
      ws();
      if (text[i] !== ':') throw new Stop(i, `":" after the key, not ${show(text[i])}`);
      i++;
      value();
      ws();
      if (text[i] === '}') return void i++;
      if (text[i] === undefined) throw new Stop(open, 'a closing } for the { opened here');
      if (text[i] !== ',') throw new Stop(i, `"," or "}" after a value, not ${show(text[i])}`);
      const comma = i++;
      ws();
      if (text[i] === '}') throw new Stop(comma, 'no comma before "}": JSON allows no trailing comma');
    }
  };
  const array = (): void => {
    const open = i++;
    ws();
    if (text[i] === ']') return void i++;
    for (;;) {
      value();
      ws();
      if (text[i] === ']') return void i++;
      if (text[i] === undefined) throw new Stop(open, 'a closing ] for the [ opened here');
      if (text[i] !== ',') throw new Stop(i, `"," or "]" after a value, not ${show(text[i])}`);
      const comma = i++;
      ws();
      if (text[i] === ']') throw new Stop(comma, 'no comma before "]": JSON allows no trailing comma');
    }
  };
  const string = (): void => {
    const open = i++;
    for (;;) {
      const c = text[i];
      if (c === undefined || c === '\n' || c === '\r') throw new Stop(open, 'a closing " for the string opened here (unclosed quote)');
      if (c === '"') return void i++;
      if (c < ' ') throw new Stop(i, 'no control character inside a string (escape it, e.g. \\t)');
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Stop(i, 'four hex digits after \\u');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) throw new Stop(i, `a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX), not \\${e ?? ''}`);
        i += 2;
        continue;
      }
      i++;
    }
  };
  const number = (): void => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) throw new Stop(i, 'a number (digits, no leading "+" or ".")');
    i += m[0].length;
  };
  try {
    value();
    ws();
    if (i < text.length) throw new Stop(i, `the end of the file after the top-level value, not ${show(text[i])}`);
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return { offset: e.offset, message: e.message };
    throw e;
  }
}
