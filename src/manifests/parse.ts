/**
 * Manifest text -> plain objects, each remembering where it came from so any field can be pointed at by line and
 * column. Pure: the caller reads the files (./load.ts).
 *
 * YAML is parsed the way Kubernetes reads it (sigs.k8s.io/yaml on go-yaml v2, i.e. YAML 1.1 scalars): `yes`/`on`/`y`
 * are booleans and `0777` is octal, so `matchLabels: {enabled: yes}` fails here as it fails in kubectl instead of
 * silently becoming the string "yes". Two YAML 1.1 resolutions go-yaml never applied are switched off: sexagesimal
 * numbers (Calico's port range `20:50` would otherwise become 1250) and timestamps (`creationTimestamp` stays a
 * string). JSON is read by the same parser: it is YAML, and that gives JSON files the same positions.
 */
import {
  isAlias,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  visit,
  type Document,
  type Node,
  type ParsedNode,
  type Tags,
} from 'yaml';
import { ManifestError, type DocumentRef, type Position } from './errors.js';
import { hasDuplicateKey, JsonLocator } from './json-locator.js';
import { parsePath, type FieldPath, type PathSegment } from './path.js';

export interface ManifestSource {
  /** The name printed in messages: the path as the user gave it, or `<stdin>`. */
  readonly file: string;
  readonly text: string;
}

export interface ObjectSource extends DocumentRef {
  /** Where the object sits in its document: `[]` for a whole document, `['items', 3]` for an item of a List. */
  readonly base: FieldPath;
  /**
   * The position of a field of this object (path relative to the object). `key` points at the field's name
   * (for "unknown field"), `value` at its value. A field that is absent resolves to its nearest present ancestor.
   */
  locate(path: FieldPath | string, at?: 'key' | 'value'): Position;
  /** A ManifestError about a field of this object, its path prefixed with `base`. */
  error(path: FieldPath | string, message: string): ManifestError;
}

export interface ManifestObject {
  /** The object as plain JSON data. */
  readonly raw: Readonly<Record<string, unknown>>;
  /** `apiVersion` and `kind` when they are strings; undefined otherwise. */
  readonly apiVersion: string | undefined;
  readonly kind: string | undefined;
  readonly source: ObjectSource;
}

export interface ParseResult {
  readonly objects: ManifestObject[];
  /** Documents that could not be read at all (YAML syntax, not an object). Other documents are still returned. */
  readonly errors: ManifestError[];
  /**
   * Whole documents that are no Kubernetes object at all (a CI config, a values file, a list): kubectl would
   * refuse them, but in a directory of manifests they are harmless, so the tools skip them with a warning.
   */
  readonly skipped: ManifestError[];
}

const GO_YAML_UNSUPPORTED_NAMES = new Set(['intTime', 'floatTime', 'timestamp']);
const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';

function kubernetesYamlTags(tags: Tags): Tags {
  return tags.filter((tag) =>
    typeof tag === 'string'
      ? !GO_YAML_UNSUPPORTED_NAMES.has(tag)
      : tag.format !== 'TIME' && tag.tag !== TIMESTAMP_TAG,
  );
}

export function parseManifests(sources: readonly ManifestSource[]): ParseResult {
  const objects: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  const skipped: ManifestError[] = [];
  for (const source of sources) {
    const result = parseManifestText(source.text, source.file);
    objects.push(...result.objects);
    errors.push(...result.errors);
    skipped.push(...result.skipped);
  }
  return { objects, errors, skipped };
}

export function parseManifestText(text: string, file: string): ParseResult {
  return parseJsonText(text, file) ?? parseYamlText(text, file);
}

/**
 * JSON (what `kubectl get -o json` and most exports give) read by JSON.parse, which is a hundred times faster than
 * composing a YAML document, with positions found only when asked for. Undefined when the text is not plain JSON,
 * so the YAML parser reads it and words any syntax error with its position, as for every other file.
 */
function parseJsonText(text: string, file: string): ParseResult | undefined {
  const first = /\S/.exec(text)?.[0];
  if (first !== '{' && first !== '[') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // JSON.parse keeps the last of two equal keys without a word; the YAML reader refuses them with a position.
  if (hasDuplicateKey(text)) return undefined;
  const objects: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  const skipped: ManifestError[] = [];
  if (value !== null)
    collectDocument(value, { file, document: 1 }, new JsonLocator(text), objects, errors, skipped);
  return { objects, errors, skipped };
}

export function parseYamlText(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, {
    lineCounter,
    version: '1.1',
    customTags: kubernetesYamlTags,
    prettyErrors: false,
  });
  const objects: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  const skipped: ManifestError[] = [];
  // parseAllDocuments returns an EmptyStream (an empty array-like) for a stream with no documents.
  const docs: Document.Parsed[] = Array.isArray(documents) ? documents : [];
  docs.forEach((doc, index) => {
    const where: DocumentRef = { file, document: index + 1 };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lineCounter.linePos(e.pos[0]);
        const firstLine = e.message.split('\n')[0] ?? e.message;
        errors.push(new ManifestError(where, '', `line ${pos.line}, column ${pos.col}: ${firstLine}`, pos));
      }
      return;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // An unresolved alias or an alias bomb: point at the first alias that cannot be resolved, else the document.
      let offset = doc.contents.range?.[0] ?? 0;
      visit(doc, {
        Alias: (_, alias) => {
          if (alias.resolve(doc) !== undefined) return undefined;
          offset = alias.range?.[0] ?? offset;
          return visit.BREAK;
        },
      });
      const position = lineCounter.linePos(offset);
      errors.push(new ManifestError(where, '', e instanceof Error ? e.message : String(e), position));
      return;
    }
    const locator = new DocumentLocator(doc, lineCounter);
    collectDocument(value, where, locator, objects, errors, skipped);
  });
  return { objects, errors, skipped };
}

/** A whole document: skipped with a warning when it is no Kubernetes object at all, else its objects. */
function collectDocument(
  value: unknown,
  where: DocumentRef,
  locator: Locator,
  objects: ManifestObject[],
  errors: ManifestError[],
  skipped: ManifestError[],
): void {
  const notKubernetes = !isPlainObject(value)
    ? describe(value)
    : !('apiVersion' in value) && !('kind' in value) && !('metadata' in value)
      ? 'no apiVersion, kind or metadata'
      : undefined;
  if (notKubernetes !== undefined) {
    skipped.push(
      new ManifestError(
        where,
        '',
        `not a Kubernetes object (${notKubernetes}): skipped`,
        locator.locate([], 'value'),
      ),
    );
    return;
  }
  collectObjects(value, [], where, locator, objects, errors);
}

function collectObjects(
  value: unknown,
  base: PathSegment[],
  where: DocumentRef,
  locator: Locator,
  objects: ManifestObject[],
  errors: ManifestError[],
): void {
  if (!isPlainObject(value)) {
    errors.push(
      new ManifestError(
        where,
        base,
        `expected a Kubernetes object (a map with apiVersion and kind), got ${describe(value)}`,
        locator.locate(base, 'value'),
      ),
    );
    return;
  }
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : undefined;
  const kind = typeof value.kind === 'string' ? value.kind : undefined;
  // `kubectl get -o yaml` wraps results in `v1/List`; typed lists (`NetworkPolicyList`) have the same shape.
  if (kind?.endsWith('List') && 'items' in value) {
    const items = value.items;
    if (items === null || items === undefined) return;
    if (!Array.isArray(items)) {
      errors.push(
        new ManifestError(where, [...base, 'items'], `expected a list of objects, got ${describe(items)}`),
      );
      return;
    }
    // A typed list's items carry no kind as the API server returns them (`kubectl get --raw`, many exports): the
    // list's kind and apiVersion say what they are, as Kubernetes' own decoders read them.
    const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length);
    items.forEach((item, i) =>
      collectObjects(
        itemKind !== undefined && isPlainObject(item) ? { apiVersion, kind: itemKind, ...item } : item,
        [...base, 'items', i],
        where,
        locator,
        objects,
        errors,
      ),
    );
    return;
  }
  objects.push({ raw: value, apiVersion, kind, source: makeSource(where, base, locator) });
}

function makeSource(where: DocumentRef, base: readonly PathSegment[], locator: Locator): ObjectSource {
  const full = (path: FieldPath | string): PathSegment[] => [
    ...base,
    ...(typeof path === 'string' ? (path === '' ? [] : parsePath(path)) : path),
  ];
  return {
    file: where.file,
    document: where.document,
    base,
    locate: (path, at = 'value') => locator.locate(full(path), at),
    error: (path, message) =>
      new ManifestError(where, full(path), message, locator.locate(full(path), 'value')),
  };
}

interface Locator {
  locate(path: readonly PathSegment[], at: 'key' | 'value'): Position;
}

class DocumentLocator implements Locator {
  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  locate(path: readonly PathSegment[], at: 'key' | 'value'): Position {
    let node: Node | null = this.resolve(this.doc.contents);
    let offset = node?.range?.[0] ?? 0;
    for (let i = 0; i < path.length && node; i++) {
      const segment = path[i] as PathSegment;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const key = String(segment);
        const pair = node.items.find((p) => isPair(p) && keyText(p.key) === key);
        if (!pair) break;
        const keyNode = isNode(pair.key) ? pair.key : null;
        const valueNode = isNode(pair.value) ? this.resolve(pair.value) : null;
        const keyOffset = keyNode?.range?.[0];
        const valueOffset = (isNode(pair.value) ? pair.value : null)?.range?.[0];
        offset = (last && at === 'key' ? keyOffset : (valueOffset ?? keyOffset)) ?? offset;
        node = valueNode;
      } else if (isSeq(node) && /^\d+$/.test(String(segment))) {
        const item: unknown = node.items[Number(segment)];
        if (!isNode(item)) break;
        offset = item.range?.[0] ?? offset;
        node = this.resolve(item);
      } else {
        break;
      }
    }
    return this.lines.linePos(offset);
  }

  private resolve(node: unknown): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as ParsedNode | undefined) ?? null;
    return isNode(node) ? node : null;
  }
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return key.value === null ? 'null' : String(key.value);
  return typeof key === 'string' ? key : undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a value reads in a message: "a list", "a map", "the string \"x\"". */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  return typeof value;
}
