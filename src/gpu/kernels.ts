/** Compute pipelines built from WGSL, cached by source and entry point, with compile errors surfaced. */

/** A WGSL kernel failed to compile or validate. */
export class KernelError extends Error {
  override name = "KernelError";
}

const cache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * The pipeline for `entry` in `source` (named `kernel` in errors). Compilation is checked up front:
 * an invalid shader otherwise runs as a no-op and the outputs silently stay zero.
 */
export async function pipeline(
  device: GPUDevice,
  kernel: string,
  source: string,
  entry = "main",
): Promise<GPUComputePipeline> {
  let byKey = cache.get(device);
  if (!byKey) cache.set(device, byKey = new Map());
  const key = `${kernel}\u0000${entry}\u0000${source}`;
  const hit = byKey.get(key);
  if (hit) return hit;
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: source, label: kernel });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length > 0) {
    await device.popErrorScope();
    const lines = source.split("\n");
    const text = errors.map((m) =>
      `  line ${m.lineNum}: ${m.message}\n    ${lines[m.lineNum - 1]?.trim() ?? ""}`
    );
    throw new KernelError(`kernel ${kernel} failed to compile:\n${text.join("\n")}`);
  }
  const made = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: entry },
    label: kernel,
  });
  const error = await device.popErrorScope();
  if (error) throw new KernelError(`kernel ${kernel} (entry ${entry}) is invalid: ${error.message}`);
  byKey.set(key, made);
  return made;
}

/** Uniform bytes from a list of 32-bit fields, padded to 16 bytes as WGSL uniform structs are. */
export function params(fields: ReadonlyArray<readonly ["u32" | "i32" | "f32", number]>): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
  const view = new DataView(bytes);
  fields.forEach(([type, value], i) => {
    if (type === "f32") view.setFloat32(i * 4, value, true);
    else if (type === "i32") view.setInt32(i * 4, value, true);
    else view.setUint32(i * 4, value, true);
  });
  return bytes;
}

/** Workgroup counts covering `n` threads in groups of `size`, folded into y past the 65,535 per-axis limit. */
export function grid(n: number, size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / size));
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}
