/**
 * WebGPU errors as failures. WebGPU reports a failed call (a buffer over the limits, a bad binding, an
 * invalid dispatch, out of memory) asynchronously and carries on: the buffer is invalid, the dispatch a
 * no-op, and a later read returns zeros. Each watched device records every error (from error scopes around
 * allocations and submissions, from `uncapturederror` for the rest, and a lost device), and `checkDevice`
 * throws the first one: `read` calls it before handing data back, so no number is ever read after an error.
 */

/** A WebGPU error or a lost device; the message says what was being done and the sizes involved. */
export class GpuError extends Error {
  override name = "GpuError";
}

interface Watch {
  /** The first error, as the message it will be thrown with. */
  first?: string;
  /** Scopes popped but not yet settled. */
  pending: Set<Promise<void>>;
  /** Settles when the device is lost (not when destroyed on purpose). */
  lost: Promise<void>;
}

const watches = new WeakMap<GPUDevice, Watch>();

/** Starts recording `device`'s errors (once per device); `checkDevice` throws the first. */
export function watchDevice(device: GPUDevice): void {
  if (watches.has(device)) return;
  const w: Watch = {
    pending: new Set(),
    lost: device.lost.then((info): Promise<void> | void => {
      // destroyed on purpose (end of process): never counts as lost
      if (info.reason === "destroyed") return new Promise<void>(() => {});
      record(w, `the WebGPU device was lost (${info.reason ?? "unknown"}): ${oneLine(info.message)}`);
    }),
  };
  watches.set(device, w);
  device.addEventListener("uncapturederror", (event) => {
    const e = (event as GPUUncapturedErrorEvent).error;
    record(w, `WebGPU ${kind(e)} outside a checked call: ${oneLine(e.message)}`);
  });
}

/**
 * Runs `fn` (synchronous) inside error scopes for validation, out-of-memory and internal errors; an error
 * is recorded as `WebGPU <kind> while <doing>: <message>`. Three scopes pushed and popped cost about 5 µs
 * on an idle machine (40 µs at a load of 11 on 2 cores); a training step makes about six such calls (its
 * input writes, its submission, its readback), which bench/error_scopes.ts could not tell apart from noise
 * on lavapipe's 1.8 s ViT-tiny LoRA step. So they wrap every allocation, write, submission and read.
 */
export function scoped<T>(device: GPUDevice, doing: string, fn: () => T): T {
  const w = watches.get(device);
  if (!w) return fn();
  device.pushErrorScope("validation");
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("internal");
  try {
    return fn();
  } finally {
    const popped = Promise.all([device.popErrorScope(), device.popErrorScope(), device.popErrorScope()])
      .then((errors) => {
        const e = errors.find((x) => x !== null);
        if (e) record(w, `WebGPU ${kind(e)} while ${doing}: ${oneLine(e.message)}`);
      }, (e) => record(w, `WebGPU error scopes failed while ${doing}: ${oneLine(String(e?.message ?? e))}`))
      .finally(() => w.pending.delete(popped));
    w.pending.add(popped);
  }
}

/** Throws a GpuError for the first error `device` reported, once every scope popped so far has settled. */
export async function checkDevice(device: GPUDevice): Promise<void> {
  const w = watches.get(device);
  if (!w) return;
  while (w.pending.size > 0) await Promise.all([...w.pending]);
  if (w.first !== undefined) throw new GpuError(w.first);
}

/**
 * `work`, or a GpuError as soon as the device is lost: a lost device may never settle a pending map.
 */
export async function unlessLost<T>(device: GPUDevice, work: Promise<T>): Promise<T> {
  const w = watches.get(device);
  if (!w) return await work;
  return await Promise.race([
    work,
    w.lost.then((): never => {
      throw new GpuError(w.first ?? "the WebGPU device was lost");
    }),
  ]);
}

/** Records a failure found another way (a rejected map) unless an earlier error explains it. */
export async function recordFailure(device: GPUDevice, message: string): Promise<void> {
  const w = watches.get(device);
  if (!w) return;
  while (w.pending.size > 0) await Promise.all([...w.pending]);
  record(w, message);
}

/** Bytes as MiB (or KiB below one MiB), for messages. */
export function size(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function record(w: Watch, message: string): void {
  w.first ??= message;
}

function kind(e: GPUError): string {
  if (e instanceof GPUValidationError) return "validation error";
  if (e instanceof GPUOutOfMemoryError) return "out-of-memory error";
  if (typeof GPUInternalError !== "undefined" && e instanceof GPUInternalError) return "internal error";
  return "error";
}

function oneLine(text: string): string {
  const line = text.replace(/\s*\n\s*/g, "; ").trim();
  return line.length > 300 ? line.slice(0, 297) + "..." : line;
}
