/**
 * Positions inside a JSON text without building a syntax tree: JSON manifests are parsed with JSON.parse (a 20 MB
 * NetworkPolicyList in a fraction of a second, where composing a YAML document of it takes tens of seconds and
 * gigabytes), and a field's line and column are found only when a message needs them, by scanning the text along
 * the field's path. Gives the same positions as the YAML locator of ./parse.ts does on the same text
 * (json-locator.test.ts holds the two together): an absent field resolves to its nearest present ancestor.
 */
import type { Position } from './errors.js';
import type { PathSegment } from './path.js';

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const NEWLINE = 0x0a;

/** Only for text JSON.parse accepted: it assumes well-formed JSON. */
export class JsonLocator {
  /** Element offsets of the arrays and member offsets of the objects already walked: a long List is scanned once. */
  private readonly elements = new Map<number, number[]>();
  private readonly members = new Map<number, Map<string, { key: number; value: number }>>();
  private lineStarts: number[] | undefined;

  constructor(private readonly text: string) {}

  locate(path: readonly PathSegment[], at: 'key' | 'value'): Position {
    let node = this.skipSpace(0);
    let offset = node;
    for (let i = 0; i < path.length; i++) {
      const segment = String(path[i]);
      const last = i === path.length - 1;
      const code = this.text.charCodeAt(node);
      if (code === OPEN_BRACE) {
        const member = this.member(node, segment);
        if (member === undefined) break;
        offset = last && at === 'key' ? member.key : member.value;
        node = member.value;
      } else if (code === OPEN_BRACKET && /^\d+$/.test(segment)) {
        const element = this.elementOffsets(node)[Number(segment)];
        if (element === undefined) break;
        offset = element;
        node = element;
      } else {
        break;
      }
    }
    return this.position(offset);
  }

  /** The key and value offsets of the member named `key` of the object at `start`, the first if there are two. */
  private member(start: number, key: string): { key: number; value: number } | undefined {
    let members = this.members.get(start);
    if (members === undefined) {
      members = new Map();
      let i = this.skipSpace(start + 1);
      while (this.text.charCodeAt(i) === QUOTE) {
        const keyStart = i;
        const keyEnd = this.skipString(i);
        const name = JSON.parse(this.text.slice(keyStart, keyEnd)) as string;
        // Past the colon.
        i = this.skipSpace(this.skipSpace(keyEnd) + 1);
        if (!members.has(name)) members.set(name, { key: keyStart, value: i });
        i = this.skipSpace(this.skipValue(i));
        if (this.text.charCodeAt(i) !== COMMA) break;
        i = this.skipSpace(i + 1);
      }
      this.members.set(start, members);
    }
    return members.get(key);
  }

  private elementOffsets(start: number): number[] {
    const cached = this.elements.get(start);
    if (cached) return cached;
    const offsets: number[] = [];
    let i = this.skipSpace(start + 1);
    if (this.text.charCodeAt(i) !== CLOSE_BRACKET) {
      for (;;) {
        offsets.push(i);
        i = this.skipSpace(this.skipValue(i));
        if (this.text.charCodeAt(i) !== COMMA) break;
        i = this.skipSpace(i + 1);
      }
    }
    this.elements.set(start, offsets);
    return offsets;
  }

  /** The offset just after the value starting at `i`. */
  private skipValue(i: number): number {
    const code = this.text.charCodeAt(i);
    if (code === QUOTE) return this.skipString(i);
    if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      let depth = 0;
      for (let j = i; j < this.text.length; j++) {
        const c = this.text.charCodeAt(j);
        if (c === QUOTE) j = this.skipString(j) - 1;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) return j + 1;
        }
      }
      return this.text.length;
    }
    // A number, true, false or null: up to the next delimiter.
    let j = i;
    while (j < this.text.length) {
      const c = this.text.charCodeAt(j);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COLON || isSpace(c)) break;
      j++;
    }
    return j;
  }

  /** The offset just after the string whose opening quote is at `i`. */
  private skipString(i: number): number {
    for (let j = i + 1; j < this.text.length; j++) {
      const c = this.text.charCodeAt(j);
      if (c === BACKSLASH) j++;
      else if (c === QUOTE) return j + 1;
    }
    return this.text.length;
  }

  private skipSpace(i: number): number {
    while (i < this.text.length && isSpace(this.text.charCodeAt(i))) i++;
    return i;
  }

  /** 1-based line and column, counted in UTF-16 units as the YAML parser's LineCounter counts them. */
  private position(offset: number): Position {
    if (this.lineStarts === undefined) {
      const starts = [0];
      for (let i = this.text.indexOf('\n'); i >= 0; i = this.text.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] as number) <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, col: offset - (starts[low] as number) + 1 };
  }
}

/**
 * Whether any object in a JSON text JSON.parse accepted has the same key twice. JSON.parse keeps the last silently;
 * the API server and the YAML reader refuse such a document, so the caller hands it to the YAML reader, which says
 * where. One pass over the text with one key set per open object.
 */
export function hasDuplicateKey(text: string): boolean {
  // Per open container: the keys seen (an object) or undefined (an array).
  const open: (Set<string> | undefined)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i + 1;
      let escaped = false;
      for (; end < text.length; end++) {
        const d = text.charCodeAt(end);
        if (d === BACKSLASH) {
          escaped = true;
          end++;
        } else if (d === QUOTE) break;
      }
      const keys = open[open.length - 1];
      if (keys !== undefined) {
        let j = end + 1;
        while (j < text.length && isSpace(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) === COLON) {
          // Escapes are compared by what they mean ("ki\u006ed" is "kind").
          const key = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
          if (keys.has(key)) return true;
          keys.add(key);
        }
      }
      i = end;
    } else if (c === OPEN_BRACE) open.push(new Set());
    else if (c === OPEN_BRACKET) open.push(undefined);
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) open.pop();
  }
  return false;
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === NEWLINE || code === 0x0d || code === 0x09;
}
