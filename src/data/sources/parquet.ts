/**
 * Parquet files (the format Hugging Face datasets are stored in: `data/train-00000-of-00003.parquet`), read
 * with `hyparquet` one row group at a time, so memory holds one group's rows, not the file. A folder is read
 * as its `*.parquet` files in name order.
 */
import { type AsyncBuffer, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { files as hostFiles, type SyncFile } from "../../host/files.ts";
import { DataError } from "../errors.ts";
import { inDomain, type Located, type RecordOptions } from "./jsonl.ts";
import { recordItem } from "./records.ts";
import { filesAt } from "./text_folder.ts";

/** The Parquet files of a path: the file itself, or a folder's `*.parquet` files sorted by name. */
export function parquetFiles(path: string): string[] {
  return filesAt(path, ".parquet");
}

/**
 * Random access to an open file, as hyparquet reads it. The host's files (Deno's, or the page's in memory)
 * are read synchronously at a position, so the same reader runs under Deno and in a browser.
 */
function fileBuffer(file: SyncFile, byteLength: number, onRead?: (bytes: number) => void): AsyncBuffer {
  return {
    byteLength,
    slice(start: number, end = byteLength): Promise<ArrayBuffer> {
      const out = new Uint8Array(end - start);
      let at = 0;
      while (at < out.length) {
        const n = file.readAt(out.subarray(at), start + at);
        if (n === 0) return Promise.reject(new Error(`unexpected end of file at byte ${start + at}`));
        at += n;
      }
      onRead?.(out.length);
      return Promise.resolve(out.buffer);
    },
  };
}

/** The items of one or more Parquet files, in order; errors name the file and the 1-based row. */
export async function* readParquet(
  path: string,
  options: RecordOptions = {},
  onRead?: (bytes: number) => void,
): AsyncGenerator<Located> {
  for (const name of parquetFiles(path)) {
    let file: SyncFile;
    try {
      file = hostFiles().openSync(name);
    } catch (e) {
      throw new DataError(`cannot open (${(e as Error).message})`, { file: name });
    }
    try {
      const buffer = fileBuffer(file, file.size(), onRead);
      const fail = (e: unknown): never => {
        if (e instanceof DataError) throw e;
        throw new DataError(`is not a Parquet file hyparquet can read (${(e as Error).message})`, {
          file: name,
        });
      };
      const metadata = await parquetMetadataAsync(buffer).catch(fail);
      let first = 0;
      for (const group of metadata.row_groups) {
        const rowEnd = first + Number(group.num_rows);
        const rows = await parquetReadObjects({ file: buffer, metadata, rowStart: first, rowEnd }).catch(
          fail,
        );
        for (const [i, row] of rows.entries()) {
          const where = { file: name, row: first + i + 1 };
          if (!inDomain(row, options, where)) continue;
          yield { item: recordItem(row, where, options.textField), where };
        }
        first = rowEnd;
      }
    } finally {
      file.close();
    }
  }
}
