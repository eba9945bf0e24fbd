/** A tiny ONNX graph builder: named initializers, nodes and unique value names. */

import {
  type AttributeMsg,
  AttributeType,
  DataType,
  type NodeMsg,
  type TensorMsg,
  type ValueInfoMsg,
} from "./_onnx_proto.ts";

/** Attribute helpers: `int("axis", -1)`, `ints("perm", [0, 2, 1])`, `float("epsilon", 1e-5)`. */
export const attr = {
  int: (name: string, i: number): AttributeMsg => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: number[]): AttributeMsg => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): AttributeMsg => ({ name, type: AttributeType.FLOAT, f }),
};

/** Float32 little-endian bytes, whatever the host's byte order. */
export function float32Bytes(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

function int64Bytes(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return bytes;
}

/** Collects nodes and initializers in topological order (the order they are added). */
export class GraphBuilder {
  readonly nodes: NodeMsg[] = [];
  readonly initializers: TensorMsg[] = [];
  #names = new Set<string>();
  #constants = new Map<string, string>();

  #unique(base: string): string {
    let name = base;
    for (let k = 1; this.#names.has(name); k++) name = `${base}_${k}`;
    this.#names.add(name);
    return name;
  }

  /** Reserve a name that comes from outside the builder (a graph input). */
  reserve(name: string): string {
    if (this.#names.has(name)) throw new Error(`internal: value name "${name}" used twice`);
    this.#names.add(name);
    return name;
  }

  /** A float32 initializer; returns its value name. */
  float(name: string, shape: number[], values: ArrayLike<number>): string {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== values.length) {
      throw new Error(`internal: "${name}" has ${values.length} values for [${shape}]`);
    }
    const unique = this.#unique(name);
    this.initializers.push({
      name: unique,
      dims: shape,
      data_type: DataType.FLOAT,
      raw_data: float32Bytes(values),
    });
    return unique;
  }

  /** A float32 scalar constant, shared between uses of the same value. */
  scalar(value: number): string {
    const key = `f${value}`;
    const known = this.#constants.get(key);
    if (known !== undefined) return known;
    const name = this.float(`const_${this.#constants.size}`, [], [value]);
    this.#constants.set(key, name);
    return name;
  }

  /** An int64 constant (shapes for Reshape, indices for Gather); shape [] makes a scalar. */
  int64(values: number[], shape: number[] = [values.length]): string {
    const key = `i${shape.join("x")}:${values.join(",")}`;
    const known = this.#constants.get(key);
    if (known !== undefined) return known;
    const name = this.#unique(`const_${this.#constants.size}`);
    this.initializers.push({ name, dims: shape, data_type: DataType.INT64, raw_data: int64Bytes(values) });
    this.#constants.set(key, name);
    return name;
  }

  /** Add a node and return its (single) output name; `out` names the output, else one is derived. */
  op(opType: string, inputs: string[], attributes: AttributeMsg[] = [], out?: string): string {
    const output = out === undefined
      ? this.#unique(`${opType.toLowerCase()}_${this.nodes.length}`)
      : this.reserve(out);
    this.nodes.push({
      name: `n${this.nodes.length}_${opType}`,
      op_type: opType,
      input: inputs,
      output: [output],
      attribute: attributes,
    });
    return output;
  }
}

/** A float32 tensor value description; string dims are symbolic (dynamic). */
export function tensorInfo(name: string, dims: (number | string)[]): ValueInfoMsg {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: DataType.FLOAT,
        shape: { dim: dims.map((d) => typeof d === "string" ? { dim_param: d } : { dim_value: d }) },
      },
    },
  };
}
