/**
 * Extracts the payload of single-module browserify UMD bundles, the way
 * nsfwjs ships its models: `model.min.js` assigns the model.json object
 * literal and each `group1-shardNofM.min.js` assigns a base64 string, both
 * as `<m>.exports=<literal>` inside minified wrapper code.
 *
 * The literal is parsed, not evaluated: the grammar below covers what JSON
 * and minifiers produce (unquoted keys, `!0`/`!1`, `.5`, `void 0`) and
 * rejects anything else with its position, so a bundle we do not understand
 * fails loudly instead of running.
 */

class LiteralParser {
  pos: number;

  constructor(
    private readonly text: string,
    start: number,
    private readonly what: string,
  ) {
    this.pos = start;
  }

  fail(message: string): never {
    const near = this.text.slice(this.pos, this.pos + 40);
    throw new Error(`${this.what}: ${message} at offset ${this.pos} (near ${JSON.stringify(near)})`);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  /** Consumes `token` if it is next. */
  eat(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  expect(token: string): void {
    if (!this.eat(token)) this.fail(`expected ${JSON.stringify(token)}`);
  }

  value(): unknown {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"' || c === "'") return this.string();
    if (this.eat("!0")) return true;
    if (this.eat("!1")) return false;
    if (this.eat("-")) return -this.number();
    if (c !== undefined && /[\d.]/.test(c)) return this.number();
    const word = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.pos, this.pos + 64))?.[0];
    const words: Record<string, unknown> = { true: true, false: false, null: null, Infinity, NaN };
    if (word !== undefined && Object.hasOwn(words, word)) {
      this.pos += word.length;
      return words[word];
    }
    if (word === "void") {
      this.pos += word.length;
      this.expect("0");
      return undefined;
    }
    return this.fail("unsupported syntax in literal");
  }

  number(): number {
    this.skipSpace();
    const match = /^(?:0[xX][\da-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(this.text.slice(this.pos, this.pos + 64));
    if (!match) this.fail("expected a number");
    this.pos += match[0].length;
    return Number(match[0]);
  }

  /** Where `c` occurs next from the current position (the text's length if never); cached, as strings are many. */
  private next(c: string): number {
    let at = this.nextAt.get(c);
    if (at === undefined || at < this.pos) {
      at = this.text.indexOf(c, this.pos);
      if (at < 0) at = this.text.length;
      this.nextAt.set(c, at);
    }
    return at;
  }

  private readonly nextAt = new Map<string, number>();

  string(): string {
    const quote = this.text[this.pos++];
    let out = "";
    for (;;) {
      // Copy runs without escapes in one slice, found with native searches:
      // shard payloads are megabytes long.
      const end = Math.min(this.next(quote!), this.next("\\"), this.next("\n"));
      out += this.text.slice(this.pos, end);
      this.pos = end;
      const c = this.text[this.pos];
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c !== "\\") this.fail("unterminated string");
      out += this.escape();
    }
  }

  private escape(): string {
    const c = this.text[this.pos + 1];
    this.pos += 2;
    const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v", "0": "\0", "\n": "" };
    if (Object.hasOwn(simple, c)) return simple[c];
    const hex = (digits: number): string => {
      const code = this.text.slice(this.pos, this.pos + digits);
      if (!/^[\da-fA-F]+$/.test(code) || code.length !== digits) this.fail("bad escape");
      this.pos += digits;
      return String.fromCodePoint(parseInt(code, 16));
    };
    if (c === "x") return hex(2);
    if (c === "u" && this.text[this.pos] === "{") {
      const close = this.text.indexOf("}", this.pos);
      const code = close < 0 ? "" : this.text.slice(this.pos + 1, close);
      if (!/^[\da-fA-F]{1,6}$/.test(code)) this.fail("bad escape");
      this.pos = close + 1;
      return String.fromCodePoint(parseInt(code, 16));
    }
    if (c === "u") return hex(4);
    if (c === undefined) this.fail("unterminated string");
    return c;
  }

  array(): unknown[] {
    this.expect("[");
    const items: unknown[] = [];
    if (this.eat("]")) return items;
    do items.push(this.value());
    while (this.eat(","));
    this.expect("]");
    return items;
  }

  object(): Record<string, unknown> {
    this.expect("{");
    const obj: Record<string, unknown> = {};
    if (this.eat("}")) return obj;
    do {
      this.skipSpace();
      const c = this.text[this.pos];
      let key: string;
      if (c === '"' || c === "'") key = this.string();
      else if (c !== undefined && /[\d.]/.test(c)) key = String(this.number());
      else {
        const word = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.pos, this.pos + 256))?.[0];
        if (word === undefined) this.fail("expected a property name");
        key = word;
        this.pos += word.length;
      }
      this.expect(":");
      // defineProperty, not assignment, so a "__proto__" key stays plain data.
      Object.defineProperty(obj, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
    } while (this.eat(","));
    this.expect("}");
    return obj;
  }
}

/** The assignment of a literal to a module's `exports`, up to the literal. */
const EXPORTS = /\.exports\s*=\s*(?=[{["'])/;

/**
 * The literal a bundle assigns to its module's `exports`. `what` names the
 * bundle in errors. The literal must be the whole module body, i.e. followed
 * by the end of the module function.
 */
function exportedLiteral(text: string, what: string): unknown {
  const match = EXPORTS.exec(text);
  if (!match) throw new Error(`${what}: no "exports=<literal>" assignment found; not a bundled tfjs model file?`);
  const parser = new LiteralParser(text, match.index + match[0].length, what);
  const value = parser.value();
  parser.eat(";");
  if (!parser.eat("}")) parser.fail("expected the module body to end after the exported literal");
  return value;
}

/** The object a bundled model file (e.g. nsfwjs `model.min.js`) exports. */
export function bundledObject(text: string, what: string): Record<string, unknown> {
  const value = exportedLiteral(text, what);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${what}: the bundle exports a ${Array.isArray(value) ? "list" : typeof value}, expected an object`);
  }
  return value as Record<string, unknown>;
}

/** The string a bundled shard file (e.g. nsfwjs `group1-shard1of6.min.js`) exports. */
export function bundledString(text: string, what: string): string {
  const value = exportedLiteral(text, what);
  if (typeof value !== "string") throw new Error(`${what}: the bundle exports a ${typeof value}, expected a string`);
  return value;
}

/** How far into a shard bundle its `exports=` is looked for: the wrapper code before it is short. */
const HEAD_BYTES = 64 * 1024;

/**
 * Where the string a bundled shard file exports sits in the file's bytes
 * ([start, end) of its characters), found without decoding the megabytes of
 * payload as text. Only for a plain string: ASCII wrapper code before it, no
 * escape or line break inside (base64 has none), and what follows it as
 * bundledString requires; that string is then these bytes. Null otherwise:
 * the caller decodes the file and calls bundledString, which accepts or
 * refuses it, saying where.
 */
export function bundledPlainString(bytes: Uint8Array, what: string): { start: number; end: number } | null {
  const open = plainStringStart(bytes.subarray(0, HEAD_BYTES));
  if (!open) return null;
  const end = plainStringEnd(bytes.subarray(open.start), open.quote);
  if (end === null || end < 0) return null;
  return endsModule(bytes.subarray(open.start + end + 1, open.start + end + 1 + TAIL_BYTES), what) ? { start: open.start, end: open.start + end } : null;
}

/** Bytes after a shard's closing quote that endsModule reads: the module body's end is right there. */
export const TAIL_BYTES = 64;

/**
 * Where a plain exported string starts in a shard file's first HEAD_BYTES
 * bytes (`head`), and its quote byte; null if the export is not a string
 * after ASCII wrapper code.
 */
export function plainStringStart(head: Uint8Array): { start: number; quote: number } | null {
  const match = EXPORTS.exec(new TextDecoder().decode(head.subarray(0, HEAD_BYTES)));
  if (!match) return null;
  const open = match.index + match[0].length;
  // Character offsets in the decoded head are byte offsets only while it is ASCII.
  if (head.subarray(0, open).some((b) => b >= 0x80)) return null;
  const quote = head[open];
  if (quote !== 0x22 && quote !== 0x27) return null;
  return { start: open + 1, quote };
}

/**
 * Scans payload bytes from a plain string's start: the index of its closing
 * `quote`; -1 if `bytes` ends first (the scan goes on in the next piece);
 * null if an escape or a line break comes first (not a plain string).
 */
export function plainStringEnd(bytes: Uint8Array, quote: number): number | null {
  const end = bytes.indexOf(quote);
  const payload = end < 0 ? bytes : bytes.subarray(0, end);
  if (payload.includes(0x5c) || payload.includes(0x0a)) return null;
  return end;
}

/** Whether the bytes right after a plain string's closing quote end the module, as exportedLiteral checks. */
export function endsModule(after: Uint8Array, what: string): boolean {
  const tail = new LiteralParser(new TextDecoder().decode(after.subarray(0, TAIL_BYTES)), 0, what);
  tail.eat(";");
  return tail.eat("}");
}
