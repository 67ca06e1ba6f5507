/**
 * YAML out, for plain JSON data (what the CLI prints: Kubernetes objects). The `yaml` package builds a document
 * tree before it writes a character, which made `render` of 20,000 NetworkPolicies spend most of its time and
 * memory printing; this writes block YAML directly. A string is written plain only when it cannot read back as
 * anything else in YAML 1.1 (what kubectl reads) or 1.2; every other string is a double-quoted JSON string, which
 * is valid YAML with the same value. yaml.test.ts reads the output back with both YAML versions.
 */

/** Plain scalars that are certainly strings: a letter first, then letters, digits and `_ . / -`. */
const SAFE_PLAIN = /^[A-Za-z][A-Za-z0-9_./-]*$/;
/** Words YAML 1.1 reads as booleans or null, and `e5`, which the yaml package's 1.1 float pattern accepts. */
const RESERVED_WORDS = /^(?:y|yes|n|no|true|false|on|off|null|e[-+]?[0-9]+)$/i;

/** One document per value, as `kubectl get -o yaml` would separate them. */
export function yamlStream(values: readonly unknown[]): string {
  return values.map(yamlDocument).join('---\n');
}

export function yamlDocument(value: unknown): string {
  const lines: string[] = [];
  if (isNonEmptyCollection(value)) writeBlock(value, 0, lines);
  else lines.push(scalar(value));
  return `${lines.join('\n')}\n`;
}

function writeBlock(value: object, indent: number, lines: string[]): void {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (isNonEmptyCollection(item)) {
        const start = lines.length;
        writeBlock(item, indent + 2, lines);
        // The item's first line carries the dash in place of its indentation.
        lines[start] = `${pad}- ${(lines[start] as string).slice(indent + 2)}`;
      } else {
        lines.push(`${pad}- ${scalar(item)}`);
      }
    }
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (isNonEmptyCollection(item)) {
      lines.push(`${pad}${string(key)}:`);
      writeBlock(item, indent + 2, lines);
    } else {
      lines.push(`${pad}${string(key)}: ${scalar(item)}`);
    }
  }
}

function isNonEmptyCollection(value: unknown): value is object {
  if (Array.isArray(value)) return value.length > 0;
  return (
    typeof value === 'object' && value !== null && Object.values(value).some((item) => item !== undefined)
  );
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return '[]';
  switch (typeof value) {
    case 'string':
      return string(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return String(value);
    case 'object':
      return '{}';
    default:
      throw new Error(`cannot write a ${typeof value} as YAML`);
  }
}

function string(text: string): string {
  return SAFE_PLAIN.test(text) && !RESERVED_WORDS.test(text) ? text : JSON.stringify(text);
}
