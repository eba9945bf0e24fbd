/**
 * The pretrained checkpoint a stage's weights file leaves out: a file of a stage that trained on a pretrained
 * model holds only the weights the stage changed or trained, and names the checkpoint folder the others are
 * read from, with a digest of its fingerprint, so that a checkpoint changed since is refused, not mixed in.
 */
import { checkpointFingerprint } from "./checkpoint.ts";
import { PretrainedError } from "./errors.ts";

/** A checkpoint folder and the SHA-256 of its fingerprint (config.json, the weight files' sizes and times). */
export interface BaseRef {
  dir: string;
  sha256: string;
}

const DIR = "mixtune_base";
const SUM = "mixtune_base_sha256";

/** The reference to `dir` as it is now. */
export async function baseRef(dir: string): Promise<BaseRef> {
  return { dir, sha256: await fingerprintSum(dir) };
}

/** A weights file's metadata entries for `ref`. */
export function baseMetadata(ref: BaseRef | undefined): Record<string, string> {
  return ref ? { [DIR]: ref.dir, [SUM]: ref.sha256 } : {};
}

/** The reference a weights file's metadata holds, or undefined (a file that holds every weight). */
export function baseOf(metadata: Record<string, string>): BaseRef | undefined {
  const dir = metadata[DIR];
  const sha256 = metadata[SUM];
  return dir === undefined || sha256 === undefined ? undefined : { dir, sha256 };
}

/**
 * Throws PretrainedError (one line, naming `file`) unless `ref`'s folder is `dir` and its fingerprint is
 * unchanged: the weights left out of `file` would otherwise come from another model.
 */
export async function checkBase(file: string, ref: BaseRef, dir: string): Promise<void> {
  if (ref.dir !== dir) {
    throw new PretrainedError(file, `leaves its frozen weights in ${ref.dir}, but the model reads ${dir}`);
  }
  let now: string;
  try {
    now = await fingerprintSum(dir);
  } catch (e) {
    throw new PretrainedError(
      file,
      `leaves its frozen weights in ${dir}, which cannot be read (${(e as Error).message})`,
    );
  }
  if (now !== ref.sha256) {
    throw new PretrainedError(
      file,
      `leaves its frozen weights in ${dir}, whose files changed since it was written ` +
        `(config.json or a weight file's size or time); restore them or train the stage again`,
    );
  }
}

async function fingerprintSum(dir: string): Promise<string> {
  const bytes = new TextEncoder().encode(checkpointFingerprint(dir));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
