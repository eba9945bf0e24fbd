/**
 * The device limits a plan is held to: those of the adapter in use, a named profile, or a JSON file of
 * GPUSupportedLimits fields (to plan for a GPU this machine does not have).
 */
import { textureReads } from "../gpu/operand_textures.ts";
import { gpu, GpuUnavailableError, limitRecord } from "../gpu/device.ts";

/** The limits that decide whether a step's buffers and dispatches fit a device. */
export interface PlanLimits {
  /** Where they come from: `webgpu-default`, `device: <adapter>`, `file <path>`. */
  source: string;
  /** Bytes one storage binding may cover (a tensor, or a flat buffer bound whole). */
  maxStorageBufferBindingSize: number;
  /** Bytes one buffer may hold (the flat buffer of frozen weights is bound a tensor at a time). */
  maxBufferSize: number;
  /** Workgroups one dispatch may have along each axis. */
  maxComputeWorkgroupsPerDimension: number;
  /** The device reads matmul operands through scratch textures (src/gpu/operand_textures.ts), which count in memory. */
  textureOperands?: boolean;
}

/** The fields of `PlanLimits` a plan checks, in the order they are printed. */
export const LIMIT_NAMES = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupsPerDimension",
] as const;

/** WebGPU's defaults: what every adapter offers at least. */
export const WEBGPU_DEFAULT_LIMITS: PlanLimits = {
  source: "webgpu-default",
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 256 * 2 ** 20,
  maxComputeWorkgroupsPerDimension: 65535,
};

/** Named limits for `--limits NAME`. */
export const LIMIT_PROFILES: Readonly<Record<string, PlanLimits>> = {
  "webgpu-default": WEBGPU_DEFAULT_LIMITS,
};

/** GPUSupportedLimits' names (WebGPU, as Deno 2.9 reports them, and two older or newer ones). */
const WEBGPU_LIMITS = new Set([
  "maxTextureDimension1D",
  "maxTextureDimension2D",
  "maxTextureDimension3D",
  "maxTextureArrayLayers",
  "maxBindGroups",
  "maxBindGroupsPlusVertexBuffers",
  "maxBindingsPerBindGroup",
  "maxDynamicUniformBuffersPerPipelineLayout",
  "maxDynamicStorageBuffersPerPipelineLayout",
  "maxSampledTexturesPerShaderStage",
  "maxSamplersPerShaderStage",
  "maxStorageBuffersPerShaderStage",
  "maxStorageBuffersInVertexStage",
  "maxStorageBuffersInFragmentStage",
  "maxStorageTexturesPerShaderStage",
  "maxStorageTexturesInVertexStage",
  "maxStorageTexturesInFragmentStage",
  "maxUniformBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxStorageBufferBindingSize",
  "minUniformBufferOffsetAlignment",
  "minStorageBufferOffsetAlignment",
  "maxVertexBuffers",
  "maxBufferSize",
  "maxVertexAttributes",
  "maxVertexBufferArrayStride",
  "maxInterStageShaderComponents",
  "maxInterStageShaderVariables",
  "maxColorAttachments",
  "maxColorAttachmentBytesPerSample",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxImmediateSize",
]);

/** Bad limits (a file's field that is not a positive integer); the message names the field. */
export class LimitsError extends Error {
  override name = "LimitsError";
}

/**
 * Limits from a record of GPUSupportedLimits fields (numbers by name): the three a plan checks are taken,
 * each missing one is WebGPU's default; other WebGPU limit names are accepted and ignored (a whole
 * `adapter.limits` dump is a valid file), any other name is refused (a misspelt limit would go unused).
 */
export function limitsFrom(record: Record<string, unknown>, source: string): PlanLimits {
  const out: PlanLimits = { ...WEBGPU_DEFAULT_LIMITS, source };
  for (const [key, value] of Object.entries(record)) {
    if (key === "source") continue;
    if (!WEBGPU_LIMITS.has(key)) {
      throw new LimitsError(`${key}: not a WebGPU limit (expected names such as ${LIMIT_NAMES.join(", ")})`);
    }
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new LimitsError(`${key}: expected a positive integer, found ${JSON.stringify(value)}`);
    }
    if ((LIMIT_NAMES as readonly string[]).includes(key)) out[key as (typeof LIMIT_NAMES)[number]] = value;
  }
  return out;
}

/** The limits of this machine's adapter, or undefined when it has none. */
export async function deviceLimits(): Promise<PlanLimits | undefined> {
  try {
    const g = await gpu();
    const limits = limitsFrom(limitRecord(g.limits), `device: ${g.adapter.description}`);
    return textureReads(g.device) ? { ...limits, textureOperands: true } : limits;
  } catch (e) {
    if (e instanceof GpuUnavailableError) return undefined;
    throw e;
  }
}

/** `device: <adapter>` limits when there is an adapter, else WebGPU's defaults. */
export async function limitsInUse(): Promise<PlanLimits> {
  return (await deviceLimits()) ?? WEBGPU_DEFAULT_LIMITS;
}

/** A limit in bytes as MiB (whole when exact) or, from 1 GiB, GiB: `128 MiB`, `2.00 GiB`. */
export function limitBytes(n: number): string {
  return n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : `${(n / 2 ** 20).toFixed(n % 2 ** 20 === 0 ? 0 : 1)} MiB`;
}

/** One line: each limit and where they come from. */
export function limitsLine(l: PlanLimits): string {
  return `maxStorageBufferBindingSize ${limitBytes(l.maxStorageBufferBindingSize)}, ` +
    `maxBufferSize ${limitBytes(l.maxBufferSize)}, ` +
    `maxComputeWorkgroupsPerDimension ${l.maxComputeWorkgroupsPerDimension.toLocaleString("en-US")} ` +
    `(${l.source})`;
}
