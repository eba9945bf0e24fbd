/**
 * The page's stages kept in this browser's IndexedDB, so a reload goes on where a run stopped: each stage's
 * metric lines with its last checkpoint (weights, Adam moments, sampler, loop counters), or, once finished,
 * its result. A stage is keyed by its hash (src/spec/hash.ts: everything it depends on, the `--steps` of
 * the Steps box included), as the CLI names its run folders, so an edited pipeline never resumes another's
 * checkpoint.
 */
import type { Checkpoint } from "../../run/checkpoint.ts";
import type { MetricLine, StageResult } from "./stage.ts";

/** One stage as saved: its lines up to the checkpoint, or up to the end with the result. */
export interface SavedStage {
  /** The stage's hash. */
  key: string;
  pipeline: string;
  stage: string;
  lines: MetricLine[];
  /** Training seconds up to the checkpoint or the end. */
  seconds: number;
  checkpoint?: Checkpoint;
  result?: StageResult;
}

/** The few IndexedDB members used here, typed locally (see app.ts on the DOM library). */
interface Request<T> {
  result: T;
  error: { message: string } | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface OpenRequest extends Request<Database> {
  onupgradeneeded: (() => void) | null;
}
interface Database {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string, options: { keyPath: string }): void;
  transaction(store: string, mode: "readonly" | "readwrite"): Transaction;
}
interface Transaction {
  objectStore(name: string): Store;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: { message: string } | null;
}
interface Store {
  get(key: string): Request<SavedStage | undefined>;
  put(value: SavedStage): Request<unknown>;
  clear(): Request<unknown>;
}

const DATABASE = "mixtune";
const STORE = "stages";

/** Saved stages in IndexedDB. */
export class SavedStages {
  private constructor(private readonly db: Database) {}

  /** Opens the store, or undefined where the browser has no IndexedDB (or refuses it: a private window). */
  static async open(): Promise<SavedStages | undefined> {
    const idb =
      (globalThis as unknown as { indexedDB?: { open(name: string, version: number): OpenRequest } })
        .indexedDB;
    if (!idb) return undefined;
    try {
      const request = idb.open(DATABASE, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE)) {
          request.result.createObjectStore(STORE, { keyPath: "key" });
        }
      };
      return new SavedStages(await done(request, "open"));
    } catch {
      return undefined;
    }
  }

  /** The stage saved under `key`, if any. */
  async get(key: string): Promise<SavedStage | undefined> {
    const t = this.db.transaction(STORE, "readonly");
    return await done(t.objectStore(STORE).get(key), `read ${key}`);
  }

  /** Saves the stage (replacing what its key held); resolves once the write is committed. */
  async put(stage: SavedStage): Promise<void> {
    const t = this.db.transaction(STORE, "readwrite");
    t.objectStore(STORE).put(stage);
    await committed(t, `save ${stage.stage}`);
  }

  /** Forgets every saved stage. */
  async clear(): Promise<void> {
    const t = this.db.transaction(STORE, "readwrite");
    t.objectStore(STORE).clear();
    await committed(t, "clear");
  }
}

function done<T>(request: Request<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error(`IndexedDB ${what}: ${request.error?.message ?? "failed"}`));
  });
}

function committed(t: Transaction, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    t.oncomplete = () => resolve();
    const fail = () => reject(new Error(`IndexedDB ${what}: ${t.error?.message ?? "aborted"}`));
    t.onerror = fail;
    t.onabort = fail;
  });
}
