/** Reading GPU buffers back to the host: the one place that maps staging buffers. */

/** `bytes` bytes of `buffer` from byte `offset` (default: the whole buffer), as floats. */
export async function read(
  device: GPUDevice,
  buffer: GPUBuffer,
  offset = 0,
  bytes = buffer.size - offset,
): Promise<Float32Array> {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, offset, staging, 0, Math.min(size, buffer.size - offset));
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0), 0, Math.floor(bytes / 4));
  staging.unmap();
  staging.destroy();
  return out;
}
