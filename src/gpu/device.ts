/** The WebGPU device: acquired once, with the adapter described and software adapters flagged. */

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
  const description = info.description || info.device || "unknown adapter";
  const software = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|warp|software/i.test(description);
  return { description, vendor: info.vendor, architecture: info.architecture, software };
}

async function acquire(): Promise<Gpu> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) {
    throw new GpuUnavailableError(`WebGPU is not available in this runtime; ${HOW_TO}`);
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new GpuUnavailableError(`no WebGPU adapter found; ${HOW_TO}`);
  // Adapter info must be read before requestDevice: some implementations consume the adapter.
  const report = describe(adapter);
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    },
  });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") console.error(`mixtune: WebGPU device lost: ${info.message}`);
  });
  return { device, adapter: report, limits: device.limits };
}

/** One line naming the adapter, for logs and bench output. */
export function adapterLine(a: AdapterReport): string {
  return `${a.description}${a.software ? " (software adapter: expect CPU speeds)" : ""}`;
}
