/** The error a pretrained checkpoint folder raises: the file concerned and what is wrong with it. */

/** A checkpoint folder that cannot be used; `file` is the path of the file at fault. */
export class PretrainedError extends Error {
  override name = "PretrainedError";
  /** The file at fault (the folder itself when a file is absent). */
  readonly file: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}
