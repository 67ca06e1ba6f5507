import { formatPath, type FieldPath } from '../api/errors.js';

/** 1-based, as editors and SARIF count. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

/** Where an object came from: the file (or `<stdin>`) and its 1-based document number in that file. */
export interface DocumentRef {
  readonly file: string;
  readonly document: number;
}

/**
 * A problem with one document of the input, printed as `file: document N: field.path: message` so the user can
 * find it whatever tool produced it (render, connectivity, the controller's status messages quote the same path).
 */
export class ManifestError extends Error {
  readonly file: string;
  readonly document: number;
  /** The offending field, formatted (`spec.zones[1].addressPrefixes[0]`); empty for document-level problems. */
  readonly path: string;
  readonly detail: string;
  /** Where in the file, when known. */
  readonly position: Position | undefined;

  constructor(where: DocumentRef, path: FieldPath, detail: string, position?: Position) {
    const formatted = formatPath(path);
    super(`${where.file}: document ${where.document}: ${formatted ? `${formatted}: ` : ''}${detail}`);
    this.name = 'ManifestError';
    this.file = where.file;
    this.document = where.document;
    this.path = formatted;
    this.detail = detail;
    this.position = position;
  }
}

/** Several ManifestErrors at once, one per line, so a user fixes them all in one pass. */
export class ManifestErrors extends Error {
  constructor(readonly errors: readonly ManifestError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ManifestErrors';
  }
}
