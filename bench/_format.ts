/** Small formatting helpers shared by the bench's tables. */
import type { TorchBlas } from "./peers/torch.ts";

/** Bytes as KiB with one decimal. */
export function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Bytes as MiB with one decimal. */
export function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** A count with thousands separators: 30,413,184. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * How mixtune compares with a peer, from their times (or 1 / throughputs): "2.50x faster" or "2.50x slower".
 * Against a PyTorch on the reference BLAS there is no ratio: no PyTorch user runs that build's speed.
 */
export function versus(oursMs: number, theirsMs: number, blas?: TorchBlas): string {
  if (blas?.reference) return "no ratio (reference BLAS)";
  const r = theirsMs / oursMs;
  return r >= 1 ? `${r.toFixed(2)}x faster` : `${(1 / r).toFixed(2)}x slower`;
}

/** The 1-minute load average now. */
export function load(): number {
  return Deno.loadavg()[0];
}

/** "load 0.80 -> 1.20" plus a warning above 1.5 (the machine has 2 cores and is shared). */
export function loadNote(loads: readonly number[]): string {
  const text = `load ${loads.map((x) => x.toFixed(2)).join(" -> ")}`;
  return Math.max(...loads) > 1.5 ? `${text} (loaded: above 1.5, not a quiet machine's figures)` : text;
}
