/** Error classes of the data layer: bad data files and bad mixing settings. */

/** Where a data problem was found: a file and, for line-based formats, a 1-based line (a 1-based row for tables). */
export interface DataErrorOptions {
  file?: string;
  line?: number;
  row?: number;
}

/** Data that is missing, empty, corrupt or unreadable; the message names the file (and line) when known. */
export class DataError extends Error {
  /** The file the problem is in, when it comes from a file. */
  readonly file?: string;
  /** The 1-based line within `file`, for line-based formats such as JSONL. */
  readonly line?: number;

  constructor(message: string, options: DataErrorOptions = {}) {
    const where = options.file === undefined
      ? ""
      : options.line !== undefined
      ? `${options.file}:${options.line}: `
      : options.row !== undefined
      ? `${options.file}: row ${options.row}: `
      : `${options.file}: `;
    super(where + message);
    this.name = "DataError";
    this.file = options.file;
    this.line = options.line;
  }
}

/** An invalid mixing setting: temperature, weights, UniMax budget, schedule or sampler state. */
export class MixError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MixError";
  }
}
