/**
 * Reading GPU buffers back to the host: the one place that maps staging buffers, and so the one place that
 * makes sure no number leaves the GPU after a WebGPU error (`checkDevice`, src/gpu/errors.ts).
 */
import { checkDevice, GpuError, recordFailure, scoped, size, unlessLost } from "./errors.ts";

/**
 * `bytes` bytes of `buffer` from byte `offset` (default: the whole buffer), as floats. Throws a GpuError
 * instead when the device reported any error so far (this read's own included) or is lost.
 */
export async function read(
  device: GPUDevice,
  buffer: GPUBuffer,
  offset = 0,
  bytes = buffer.size - offset,
): Promise<Float32Array> {
  const size16 = Math.max(16, Math.ceil(bytes / 16) * 16);
  const what = `reading back ${size(bytes)} of ${buffer.label ? `buffer ${buffer.label}` : "a buffer"} ` +
    `(${size(buffer.size)})`;
  const staging = scoped(device, what, () => {
    const staging = device.createBuffer({
      size: size16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, Math.min(size16, buffer.size - offset));
    device.queue.submit([encoder.finish()]);
    return staging;
  });
  try {
    try {
      await unlessLost(device, staging.mapAsync(GPUMapMode.READ));
    } catch (e) {
      if (e instanceof GpuError) throw e;
      // an invalid staging buffer rejects the map; the scope above says why
      await recordFailure(device, `mapping the staging buffer failed while ${what}: ${(e as Error).message}`);
    }
    await checkDevice(device);
    return new Float32Array(staging.getMappedRange().slice(0), 0, Math.floor(bytes / 4));
  } finally {
    staging.destroy();
  }
}
