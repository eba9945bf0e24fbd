/** Storage buffers reused by size bucket, with capped free lists; released explicitly, never by GC. */

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Bytes rounded up to the bucket they are served from: powers of two, at least 256. */
export function bucket(bytes: number): number {
  return Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
}

/** A pool of storage buffers keyed by bucket size. */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #live = 0;
  constructor(readonly device: GPUDevice, readonly maxFreePerBucket = 8) {}

  /** Bytes currently handed out. */
  get liveBytes(): number {
    return this.#live;
  }

  /** A buffer of at least `bytes` bytes; its contents are undefined. */
  acquire(bytes: number): GPUBuffer {
    const size = bucket(bytes);
    this.#live += size;
    const list = this.#free.get(size);
    return list?.pop() ?? this.device.createBuffer({ size, usage: USAGE });
  }

  /** Returns a buffer from `acquire`; past the cap it is destroyed. */
  release(buffer: GPUBuffer): void {
    this.#live -= buffer.size;
    let list = this.#free.get(buffer.size);
    if (!list) this.#free.set(buffer.size, list = []);
    if (list.length < this.maxFreePerBucket) list.push(buffer);
    else buffer.destroy();
  }

  /** Destroys every free buffer. */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
  }
}
