/**
 * Subgroups, where a device has them. Kernels that share loads between a workgroup's lanes through subgroup
 * broadcasts (the matmul's shared-B variant) need every subgroup to be the whole workgroup, so a device
 * records its subgroup size only when the adapter fixes it (min = max).
 */

const lanes = new WeakMap<GPUDevice, number>();

/** Lanes of every subgroup on `device`; undefined when it has no subgroups or their size varies. */
export function subgroupLanes(device: GPUDevice): number | undefined {
  return lanes.get(device);
}

/** Records `device`'s subgroup size (set when the device is acquired with the subgroups feature). */
export function setSubgroupLanes(device: GPUDevice, size: number | undefined): void {
  if (size === undefined) lanes.delete(device);
  else lanes.set(device, size);
}

/** The fixed subgroup size an adapter reports, or undefined (no report, or a range). */
export function fixedSubgroupSize(info: GPUAdapterInfo): number | undefined {
  const { subgroupMinSize: min, subgroupMaxSize: max } = info as {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  return min !== undefined && min > 0 && min === max ? min : undefined;
}
