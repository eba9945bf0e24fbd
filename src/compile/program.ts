/**
 * A compiled program: the ops of a graph as a fixed list of dispatches over buffers planned by liveness.
 * Built once, replayed with new inputs: one encoder, one compute pass, one submit per run.
 */
import { type Node, showShape, topo } from "../graph/node.ts";
import { type BindingRef, cpuVariant, type Half, type KernelCall, opDef } from "../graph/op.ts";
import { planBuffers } from "./plan.ts";
import { pipeline } from "../gpu/kernels.ts";
import { read } from "../gpu/readback.ts";
import { scoped, size } from "../gpu/errors.ts";
import { subgroupLanes } from "../gpu/subgroups.ts";
import { loopCap } from "../gpu/loop_cap.ts";
import {
  copyToTexture,
  type OperandFormat,
  operandTexture,
  textureBytes,
  textureReads,
  textureRows,
} from "../gpu/operand_textures.ts";

/** A call whose pipeline is made and bindings resolved, waiting for its bind group. */
interface Pending {
  call: KernelCall;
  label: string;
  pipe: GPUComputePipeline;
  bound: Slot[];
  /** Indices into `bound` read from textures, with their formats. */
  textured: Map<number, OperandFormat>;
}

/** A fixed place in GPU memory: `bytes` bytes of `buffer` from byte `offset`. */
export interface Slot {
  buffer: GPUBuffer;
  offset: number;
  bytes: number;
  /** Stored in 16 bits (a frozen matmul weight, f16 or bf16); read only by kernels that unpack it. */
  half?: Exclude<Half, false>;
}

/** One recorded dispatch. */
export interface Dispatch {
  kernel: string;
  /** The op node it computes, or a label for calls added after the graph. */
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
  /** Operands copied into textures before the dispatch (src/gpu/operand_textures.ts). */
  copies: readonly TextureCopy[];
}

/** A binding's bytes copied into a scratch texture. */
interface TextureCopy {
  from: Slot;
  texture: GPUTexture;
}

/** How to compile a program. */
export interface ProgramOptions {
  /** Nodes whose values live in fixed places: params in flat buffers, gradients in the gradient buffer. */
  pinned?: ReadonlyMap<Node, Slot>;
  /** Calls run after the graph, bound to fixed buffers only (the optimiser). */
  after?: readonly KernelCall[];
  /** Fill every planned buffer with NaN once, so a kernel that skips an element is caught. */
  poison?: boolean;
  /**
   * Read the operands of calls that offer it from textures, and run calls' `onCpu` variants; the device's
   * setting when absent (on for CPU adapters).
   */
  textures?: boolean;
}

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A graph compiled for replay. */
export class Program {
  private constructor(
    readonly device: GPUDevice,
    readonly dispatches: readonly Dispatch[],
    readonly slots: ReadonlyMap<Node, Slot>,
    /** Bytes of the buffers planned for intermediate values (leaves and pinned slots excluded). */
    readonly plannedBytes: number,
    /** Bytes of leaf buffers this program created (inputs, consts, unpinned params). */
    readonly leafBytes: number,
    /** Bytes of the scratch textures operands are copied into (0 when the program reads none). */
    readonly textureBytes: number,
    private readonly owned: readonly (GPUBuffer | GPUTexture)[],
  ) {}

  /** Compiles `outputs` and everything they depend on. */
  static async compile(
    device: GPUDevice,
    outputs: readonly Node[],
    options: ProgramOptions = {},
  ): Promise<Program> {
    const pinned = options.pinned ?? new Map<Node, Slot>();
    const order = topo(outputs);
    const slots = new Map<Node, Slot>();
    const owned: (GPUBuffer | GPUTexture)[] = [];
    let leafBytes = 0;

    for (const n of order) {
      if (n.role === "op") continue;
      const pin = pinned.get(n);
      if (pin) {
        slots.set(n, pin);
        continue;
      }
      const bytes = n.size * 4;
      const buffer = scoped(
        device,
        `allocating ${n.role} ${n.name} ${showShape(n.shape)} (${size(bytes)})`,
        () => {
          const buffer = device.createBuffer({ size: align(bytes), usage: USAGE, label: n.name });
          if (n.role === "const") {
            const data = n.attrs.data as Float32Array;
            device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
          }
          return buffer;
        },
      );
      owned.push(buffer);
      leafBytes += buffer.size;
      slots.set(n, { buffer, offset: 0, bytes });
    }

    for (const n of pinned.keys()) {
      if (n.role === "op" && opDef(n.op).view) {
        throw new Error(`${n.op} ${n.name}: a view has no kernel to write a fixed slot; pin a copy of it`);
      }
    }
    const half = new Map<Node, Half>();
    for (const [n, s] of pinned) if (s.half) half.set(n, s.half);
    const plan = planBuffers(outputs, new Set(pinned.keys()), half);
    const { lowerings, rootOf } = plan;
    const holder = new Map<number, Node>();
    for (const [n, v] of plan.assigned) if (!holder.has(v)) holder.set(v, n);
    const physical = plan.sizes.map((bytes, v) => {
      const n = holder.get(v);
      const holds = n ? `, first holding ${n.op} ${n.name} ${showShape(n.shape)}` : ", scratch";
      const doing = `allocating planned buffer ${v + 1} of ${plan.sizes.length} (${size(bytes)}${holds})`;
      const buffer = scoped(device, doing, () => device.createBuffer({ size: align(bytes), usage: USAGE }));
      owned.push(buffer);
      return buffer;
    });
    const plannedBytes = plan.bytes;
    const ops = plan.ops;
    for (const n of ops) {
      const r = rootOf(n);
      const pin = pinned.get(n);
      if (pin) slots.set(n, pin);
      else if (r !== n) slots.set(n, { ...slots.get(r)!, bytes: n.size * 4 });
      else slots.set(n, { buffer: physical[plan.assigned.get(n)!], offset: 0, bytes: n.size * 4 });
    }
    if (options.poison) {
      scoped(device, "filling the planned buffers with NaN", () => {
        for (const b of physical) device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4).fill(NaN));
        for (const n of ops) {
          const s = slots.get(n)!;
          if (pinned.has(n)) device.queue.writeBuffer(s.buffer, s.offset, new Float32Array(n.size).fill(NaN));
        }
      });
    }

    const useTextures = options.textures ?? textureReads(device);
    const pending: Pending[] = [];
    const record = async (offered: KernelCall, label: string, resolve: (ref: BindingRef) => Slot) => {
      const variant = offered.onCpu;
      const runs = useTextures && variant &&
        (variant.subgroupSize === undefined || variant.subgroupSize === subgroupLanes(device));
      const call = runs ? cpuVariant(offered) : offered;
      const cap = loopCap(device);
      if (cap !== undefined && call.loops !== undefined && call.loops > cap) {
        throw new RangeError(
          `${label}: kernel ${call.kernel} may run ${call.loops} loop iterations in one invocation, and this ` +
            `adapter stops an invocation's loops after ${cap} (its results would be wrong): use smaller ` +
            "shapes (shorter sequences, narrower heads) or an adapter without this cap",
        );
      }
      const bound = call.bind.map(resolve);
      // an operand taller than the device's largest texture is read from its buffer
      const fits = (k: number) => textureRows(align(bound[k].bytes)) <= device.limits.maxTextureDimension2D;
      const textured = useTextures && call.textured?.bind.every(fits) ? call.textured : undefined;
      const source = storageParams(call.kernel, textured?.source ?? call.source);
      const pipe = await pipeline(device, call.kernel, source, call.entry);
      const formats = new Map(textured?.bind.map((k, j) => [k, textured.formats[j]]));
      pending.push({ call, label, pipe, bound, textured: formats });
    };
    for (let i = 0; i < ops.length; i++) {
      const n = ops[i];
      const low = lowerings[i];
      if (!low) continue;
      const resolve = (ref: BindingRef): Slot => {
        if ("in" in ref) return part(slots.get(n.inputs[ref.in])!, ref);
        if ("out" in ref) return part(slots.get(n)!, ref);
        if ("scratch" in ref) {
          const v = plan.scratch[i][ref.scratch];
          return part({ buffer: physical[v], offset: 0, bytes: low.scratch![ref.scratch] * 4 }, ref);
        }
        return {
          buffer: ref.buffer,
          offset: ref.offset ?? 0,
          bytes: ref.size ?? ref.buffer.size - (ref.offset ?? 0),
        };
      };
      for (const call of low.calls) await record(call, `${n.op} ${n.name} ${showShape(n.shape)}`, resolve);
    }
    for (const call of options.after ?? []) {
      await record(call, call.kernel, (ref) => {
        if (!("buffer" in ref)) {
          throw new Error(`call ${call.kernel} after the graph may bind fixed buffers only`);
        }
        return {
          buffer: ref.buffer,
          offset: ref.offset ?? 0,
          bytes: ref.size ?? ref.buffer.size - (ref.offset ?? 0),
        };
      });
    }
    // one scratch texture per binding position and format, as tall as the largest operand bound there
    const key = (k: number, f: OperandFormat) => `${k} ${f}`;
    const rows = new Map<string, { k: number; format: OperandFormat; rows: number }>();
    for (const p of pending) {
      for (const [k, format] of p.textured) {
        const r = textureRows(align(p.bound[k].bytes));
        const e = rows.get(key(k, format));
        if (!e || e.rows < r) rows.set(key(k, format), { k, format, rows: r });
      }
    }
    const textures = new Map<string, GPUTexture>();
    let texBytes = 0;
    for (const [name, e] of rows) {
      const doing = `allocating the ${e.format} operand texture of binding ${e.k + 1} (${
        size(textureBytes(e.rows))
      })`;
      const t = scoped(device, doing, () => operandTexture(device, e.format, e.rows, `operand ${name}`));
      owned.push(t);
      textures.set(name, t);
      texBytes += textureBytes(e.rows);
    }
    const dispatches = pending.map(({ call, label, pipe, bound, textured }): Dispatch => {
      const largest = Math.max(0, ...bound.map((s) => align(s.bytes)));
      const doing = `binding the buffers of kernel ${call.kernel} for ${label} (largest binding ${
        size(largest)
      })`;
      const bindGroup = scoped(device, doing, () => {
        const uniform = device.createBuffer({ size: align(call.params.byteLength), usage: PARAMS_USAGE });
        device.queue.writeBuffer(uniform, 0, call.params);
        owned.push(uniform);
        const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
        bound.forEach((s, k) => {
          const format = textured.get(k);
          const resource = format
            ? textures.get(key(k, format))!.createView()
            : { buffer: s.buffer, offset: s.offset, size: align(s.bytes) };
          entries.push({ binding: k + 1, resource });
        });
        return device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries, label });
      });
      const copies = [...textured].map(([k, f]) => ({ from: bound[k], texture: textures.get(key(k, f))! }));
      return { kernel: call.kernel, label, pipeline: pipe, bindGroup, workgroups: call.workgroups, copies };
    });
    return new Program(device, dispatches, slots, plannedBytes, leafBytes, texBytes, owned);
  }

  /** Writes a leaf's value (an input each step, or a weight once). */
  write(node: Node, data: Float32Array): void {
    const s = this.f32Slot(node);
    if (data.length !== node.size) {
      throw new Error(`${node.name}: got ${data.length} values for shape ${showShape(node.shape)}`);
    }
    scoped(
      this.device,
      `writing ${node.name} ${showShape(node.shape)} (${size(data.byteLength)})`,
      () => this.device.queue.writeBuffer(s.buffer, s.offset, data as Float32Array<ArrayBuffer>),
    );
  }

  /** Where a node's value lives. */
  slot(node: Node): Slot {
    const s = this.slots.get(node);
    if (!s) throw new Error(`${node.name || node.op} is not part of this program`);
    return s;
  }

  /** Records every dispatch into `encoder`: one compute pass, split where operands are copied to textures. */
  encode(encoder: GPUCommandEncoder): void {
    let pass: GPUComputePassEncoder | undefined;
    for (const d of this.dispatches) {
      if (d.copies.length > 0) {
        pass?.end();
        pass = undefined;
        for (const c of d.copies) {
          copyToTexture(encoder, c.from.buffer, c.from.offset, align(c.from.bytes), c.texture);
        }
      }
      pass ??= encoder.beginComputePass();
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
    pass?.end();
  }

  /** Runs the program once. */
  run(): void {
    scoped(this.device, this.doing, () => {
      const encoder = this.device.createCommandEncoder();
      this.encode(encoder);
      this.device.queue.submit([encoder.finish()]);
    });
  }

  /** What a submission of this program is, for error messages. */
  get doing(): string {
    return `running ${this.dispatches.length} dispatches over ${
      size(this.plannedBytes + this.leafBytes + this.textureBytes)
    } ` +
      "of planned buffers, inputs and operand textures";
  }

  /** Reads a node's value back. */
  async read(node: Node): Promise<Float32Array> {
    const s = this.f32Slot(node);
    return (await read(this.device, s.buffer, s.offset, s.bytes)).subarray(0, node.size);
  }

  private f32Slot(node: Node): Slot {
    const s = this.slot(node);
    if (s.half) throw new Error(`${node.name}: stored in 16 bits; write and read it through its ParamStore`);
    return s;
  }

  /** Kernel names in dispatch order. */
  kernels(): string[] {
    return this.dispatches.map((d) => d.kernel);
  }

  /** Frees the buffers and textures this program created (pinned buffers belong to the caller). */
  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}

/**
 * Kernel parameters are bound as a read-only storage buffer, not a uniform buffer: on lavapipe (Mesa 22.3) a
 * dispatch that binds another uniform buffer than the previous one cost ~5 ms of CPU (its uniform values
 * appear to be folded into the shader, which is then re-specialised), and every dispatch of a program has
 * its own; with storage buffers it costs nothing extra (bench/NOTES.md, lever 1).
 */
const PARAMS_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
const UNIFORM_PARAMS = "var<uniform> p: Params;";

/** `source` with its params binding moved to read-only storage; the layout of `Params` is the same in both. */
export function storageParams(kernel: string, source: string): string {
  const at = source.indexOf(UNIFORM_PARAMS);
  if (at < 0 || source.indexOf("var<uniform>") !== at || source.indexOf("var<uniform>", at + 1) >= 0) {
    throw new Error(
      `kernel ${kernel}: expected exactly one uniform binding, declared as "${UNIFORM_PARAMS}"`,
    );
  }
  return source.replace(UNIFORM_PARAMS, "var<storage, read> p: Params;");
}

/** The part of `s` a binding names with `offset` and `size` (bytes), or all of it. */
function part(s: Slot, ref: { offset?: number; size?: number }): Slot {
  if (ref.offset === undefined && ref.size === undefined) return s;
  const offset = ref.offset ?? 0;
  const bytes = ref.size ?? s.bytes - offset;
  if (offset < 0 || offset + bytes > s.bytes) {
    throw new Error(`a binding of bytes ${offset}..${offset + bytes} lies outside its ${s.bytes}-byte value`);
  }
  return { ...s, offset: s.offset + offset, bytes };
}

/** Buffer sizes are rounded to 16 bytes. */
export function align(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}
