/** Reads a pipeline data file as UTF-8 text, refusing what is too big or not UTF-8 without echoing it. */
import { PipelineError } from "../spec/problem.ts";

/** Largest pipeline file read (YAML or JSON): pipelines are a few KiB; 64 KiB parses in well under a second. */
export const MAX_PIPELINE_BYTES = 64 * 1024;

/** The text of `file`, or a `PipelineError` that names the file and what is wrong in one line. */
export async function readPipelineText(file: string): Promise<string> {
  const fail = (message: string) => new PipelineError([{ path: "(file)", message }], file);
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile) throw fail(`expected a file, found a ${info.isDirectory ? "folder" : "special file"}`);
    if (info.size > MAX_PIPELINE_BYTES) throw fail(tooBig(info.size));
    bytes = await Deno.readFile(file);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw fail(`cannot read ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  // a file that grew between stat and read is still refused
  if (bytes.length > MAX_PIPELINE_BYTES) throw fail(tooBig(bytes.length));
  const encoding = byteOrderMark(bytes);
  if (encoding !== undefined) throw fail(`file is ${encoding}; save it as UTF-8`);
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw fail(`expected UTF-8 text, found a zero byte at offset ${nul} (binary or UTF-16?)`);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start));
  } catch {
    throw fail(`expected UTF-8 text, found invalid UTF-8 near byte ${firstInvalid(bytes, start)}`);
  }
}

function tooBig(size: number): string {
  return `file is ${size.toLocaleString("en-US")} bytes; a pipeline file holds at most ${
    MAX_PIPELINE_BYTES.toLocaleString("en-US")
  }`;
}

function byteOrderMark(b: Uint8Array): string | undefined {
  if (b[0] === 0x00 && b[1] === 0x00 && b[2] === 0xfe && b[3] === 0xff) return "UTF-32 (big-endian)";
  if (b[0] === 0xff && b[1] === 0xfe && b[2] === 0x00 && b[3] === 0x00) return "UTF-32 (little-endian)";
  if (b[0] === 0xfe && b[1] === 0xff) return "UTF-16 (big-endian)";
  if (b[0] === 0xff && b[1] === 0xfe) return "UTF-16 (little-endian)";
  return undefined;
}

/** About where decoding first fails: the longest prefix that decodes, found by halving (a character's width off at most). */
function firstInvalid(bytes: Uint8Array, start: number): number {
  const ok = (end: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, end));
      return true;
    } catch {
      return false;
    }
  };
  let lo = start;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
