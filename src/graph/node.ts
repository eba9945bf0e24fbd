/** The op graph: immutable nodes with inferred shapes, built by calling op functions. */

/** A tensor shape; every tensor is float32 (indices and labels are stored as exact float values). */
export type Shape = readonly number[];

/** What a leaf is: fed each step (`input`), a weight (`param`), or fixed data (`const`). */
export type Role = "input" | "param" | "const" | "op";

/** Op-specific settings, plain data. */
export type Attrs = Readonly<Record<string, unknown>>;

/** Shapes that do not fit an op; the message shows the shapes. */
export class ShapeError extends Error {
  override name = "ShapeError";
}

let nextId = 0;

/** One value in the graph. Nodes are created in topological order, so ids order them. */
export class Node {
  readonly id: number = nextId++;
  constructor(
    readonly op: string,
    readonly inputs: readonly Node[],
    readonly shape: Shape,
    readonly attrs: Attrs,
    readonly role: Role,
    /** Parameter or input name (`blocks.0.attn.qkv.weight`), or a label for ops. */
    readonly name = "",
    /** For params: whether the optimiser updates it. */
    readonly trainable = false,
  ) {}

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }
}

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2,3]`-style text for error messages. */
export function showShape(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

/** A value fed at run time. */
export function input(name: string, shape: Shape): Node {
  return new Node("input", [], shape, {}, "input", name);
}

/** A weight; `trainable` weights get gradients and optimiser state, frozen ones get neither. */
export function param(name: string, shape: Shape, trainable: boolean): Node {
  return new Node("param", [], shape, {}, "param", name, trainable);
}

/** Fixed data, uploaded once. */
export function constant(data: Float32Array | number[], shape: Shape, name = "const"): Node {
  const values = Float32Array.from(data);
  if (values.length !== sizeOf(shape)) {
    throw new ShapeError(`constant ${name}: ${values.length} values do not fill shape ${showShape(shape)}`);
  }
  return new Node("const", [], shape, { data: values }, "const", name);
}

/** Every node that `outputs` depend on, in topological order (ids ascend along edges). */
export function topo(outputs: readonly Node[]): Node[] {
  const seen = new Set<Node>();
  const stack = [...outputs];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...n.inputs);
  }
  return [...seen].sort((a, b) => a.id - b.id);
}
