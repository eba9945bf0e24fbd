/** A progress line while a long read runs: megabytes done, speed, and time left, at most every 2 seconds. */

/** Counts bytes read of a known total and prints a line now and then. */
export class Progress {
  #done = 0;
  #last = 0;
  readonly #start = performance.now();

  constructor(
    readonly label: string,
    readonly total: number,
    readonly log: (line: string) => void,
    readonly every = 2000,
  ) {
    this.#last = this.#start;
  }

  /** Bytes read so far. */
  get done(): number {
    return this.#done;
  }

  /** Seconds since the start. */
  get seconds(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /** Adds `bytes` read; prints a line when `every` ms have passed since the last one. */
  add(bytes: number): void {
    this.#done += bytes;
    const now = performance.now();
    if (now - this.#last < this.every) return;
    this.#last = now;
    const seconds = (now - this.#start) / 1000;
    const rate = this.#done / 1e6 / seconds;
    const left = rate > 0 ? Math.max(0, (this.total - this.#done) / 1e6 / rate) : NaN;
    this.log(
      `${this.label}: ${mb(this.#done)} of ${mb(this.total)} MB (${
        Math.floor(100 * this.#done / this.total)
      }%), ` +
        `${rate.toFixed(rate < 1 ? 2 : 1)} MB/s, ETA ${Number.isFinite(left) ? `${Math.ceil(left)} s` : "?"}`,
    );
  }
}

/** Megabytes with one decimal. */
export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
