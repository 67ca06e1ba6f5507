/**
 * `new URL(text)`, or undefined where that throws. For the places that only describe a URL (a metric label, a log
 * line, a message) and leave reporting a bad one to whatever uses it. Node 20 has no `URL.parse`.
 */
export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
