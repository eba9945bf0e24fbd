/** The WebGPU device: acquired once, with the adapter described and software adapters flagged. */
import { BACKEND_VAR, type BackendChoice, selectBackend } from "../host/webgpu_backend.ts";
import { watchDevice } from "./errors.ts";
import { prefersTextures, setTextureReads } from "./operand_textures.ts";
import { fixedSubgroupSize, setSubgroupLanes } from "./subgroups.ts";
import { measureLoopCap, setLoopCap } from "./loop_cap.ts";

/** What we know of the adapter in use. */
export interface AdapterReport {
  description: string;
  vendor: string;
  architecture: string;
  /** True for CPU implementations (lavapipe, llvmpipe, WARP, SwiftShader). */
  software: boolean;
}

/** A device and the adapter it came from. */
export interface Gpu {
  device: GPUDevice;
  adapter: AdapterReport;
  limits: GPUSupportedLimits;
}

/** No usable WebGPU adapter or device. */
export class GpuUnavailableError extends Error {
  override name = "GpuUnavailableError";
}

const HOW_TO =
  "install a WebGPU adapter: on a machine without a GPU, `apt-get install -y mesa-vulkan-drivers` gives Mesa's lavapipe (Vulkan on the CPU)";

let cached: Promise<Gpu> | undefined;

/** The process-wide GPU, requested on first use. */
export function gpu(): Promise<Gpu> {
  cached ??= acquire();
  return cached;
}

function describe(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  // a browser may leave description and device empty (privacy) but name the vendor and architecture
  const description = info.description || info.device ||
    [info.vendor, info.architecture].filter((x) => x).join(" ") || "unknown adapter";
  const software = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|warp|software/i.test(description);
  return { description, vendor: info.vendor, architecture: info.architecture, software };
}

async function acquire(): Promise<Gpu> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) {
    throw new GpuUnavailableError(`WebGPU is not available in this runtime; ${HOW_TO}`);
  }
  const backend = selectBackend();
  const adapter = await requestAdapter(backend);
  // Adapter info must be read before requestDevice: some implementations consume the adapter.
  const report = describe(adapter);
  const subgroupSize = fixedSubgroupSize(adapter.info);
  const device = await requestDevice(adapter, report, subgroupSize !== undefined, backend);
  // every error and a lost device fail the next read (src/gpu/errors.ts)
  watchDevice(device);
  setTextureReads(device, prefersTextures(report.description));
  setSubgroupLanes(device, device.features.has("subgroups") ? subgroupSize : undefined);
  setLoopCap(device, await measureLoopCap(device));
  return { device, adapter: report, limits: device.limits };
}

async function requestAdapter(backend: BackendChoice): Promise<GPUAdapter> {
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    const only = backend.value === undefined ? "" : ` among the ${BACKEND_VAR}=${backend.value} backends` +
      (backend.setHere ? ` (set here on Linux; set ${BACKEND_VAR} yourself to try others)` : "");
    throw new GpuUnavailableError(`no WebGPU adapter found${only}; ${HOW_TO}`);
  }
  return adapter;
}

/**
 * A device with the adapter's own limits (not WebGPU's defaults: lavapipe binds 128 MiB but allocates 2
 * GiB) and, where the subgroup size is fixed, subgroups. Deno's lavapipe adapter grants "subgroups" without
 * listing it among its features, so a refusal is answered by a device without them, from a fresh adapter.
 */
async function requestDevice(
  adapter: GPUAdapter,
  report: AdapterReport,
  subgroups: boolean,
  backend: BackendChoice,
): Promise<GPUDevice> {
  const requiredLimits = limitRecord(adapter.limits);
  const wanted = subgroups && (adapter.features.has("subgroups") || prefersTextures(report.description));
  if (wanted) {
    try {
      return await adapter.requestDevice({
        requiredLimits,
        requiredFeatures: ["subgroups" as GPUFeatureName],
      });
    } catch {
      const fresh = await requestAdapter(backend);
      return await fresh.requestDevice({ requiredLimits: limitRecord(fresh.limits) });
    }
  }
  return await adapter.requestDevice({ requiredLimits });
}

/** Every numeric limit of `limits` by name (GPUSupportedLimits keeps them as prototype getters). */
export function limitRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (let o = limits; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      const v = (limits as unknown as Record<string, unknown>)[key];
      if (typeof v === "number" && !(key in out)) out[key] = v;
    }
  }
  return out;
}

/** One line naming the adapter, for logs and bench output. */
export function adapterLine(a: AdapterReport): string {
  return `${a.description}${a.software ? " (software adapter: expect CPU speeds)" : ""}`;
}
