/**
 * Field paths inside one manifest object, written as Kubernetes (and src/api/errors.ts `fieldPath`) write
 * them: `spec.ingress[0].from[0].podSelector`, `metadata.labels[app.kubernetes.io/name]`.
 */

/** A map key (string) or a list index (number). */
export type PathSegment = string | number;
export type FieldPath = readonly PathSegment[];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function formatPath(path: FieldPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${segment}]`;
  }
  return out;
}

/**
 * The inverse of formatPath, so paths reported as text (the translators' FieldErrors) can be located in the
 * source. `[3]` reads as an index; a map key that is all digits reads the same way, and the locator accepts an
 * index on a map for exactly that reason.
 */
export function parsePath(text: string): PathSegment[] {
  const path: PathSegment[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '.') {
      i++;
      continue;
    }
    if (ch === '[') {
      const close = text.indexOf(']', i);
      if (close < 0) throw new Error(`invalid field path "${text}": unclosed [`);
      const inner = text.slice(i + 1, close);
      path.push(/^\d+$/.test(inner) ? Number(inner) : inner);
      i = close + 1;
      continue;
    }
    const match = /^[^.[]+/.exec(text.slice(i)) as RegExpExecArray;
    path.push(match[0]);
    i += match[0].length;
  }
  return path;
}
