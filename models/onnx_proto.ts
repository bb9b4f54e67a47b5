/**
 * A minimal ONNX writer: encodes a small graph (nodes with integer
 * attributes, float32/int64 initializers, typed inputs and outputs) as an ONNX
 * `ModelProto` with a hand-written protobuf encoder, so tests can build model
 * files without the Python `onnx` package.
 *
 * @module
 */

/** Growable protobuf writer (wire types 0 = varint and 2 = length-delimited). */
class ProtoWriter {
  readonly #bytes: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.#bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#bytes.push(Number(v));
    return this;
  }

  /** A varint field. */
  int(field: number, value: number | bigint): this {
    return this.varint(field << 3).varint(value);
  }

  /** A length-delimited field (bytes, string or embedded message). */
  bytes(field: number, value: Uint8Array | string | ProtoWriter): this {
    const data = typeof value === "string"
      ? new TextEncoder().encode(value)
      : value instanceof ProtoWriter
      ? value.finish()
      : value;
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.#bytes.push(b);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

/** ONNX element type float32 (`TensorProto.DataType.FLOAT`, also `Cast`'s `to`). */
export const FLOAT: number = 1;
/** ONNX element type int64 (`TensorProto.DataType.INT64`). */
export const INT64: number = 7;

/** A float32 initializer of an {@link OnnxGraph}. */
export interface OnnxInitializer {
  /** Tensor name. */
  name: string;
  /** Dimensions. */
  dims: number[];
  /** Row-major values (float32, or int64 when `int64` is set). */
  values: Float32Array | number[];
  /** Store as int64 instead of float32. */
  int64?: boolean;
}

/** One ONNX node. */
export interface OnnxNode {
  /** Operator (e.g. `Gather`). */
  op: string;
  /** Input tensor names. */
  inputs: string[];
  /** Output tensor names. */
  outputs: string[];
  /** Integer attributes (e.g. `{ to: 1 }` for `Cast`). */
  intAttributes?: Record<string, number>;
}

/** A graph input or output: name, element type and dims (strings are symbolic). */
export interface OnnxValue {
  /** Tensor name. */
  name: string;
  /** `float32` or `int64`. */
  type: "float32" | "int64";
  /** Dimensions; a string is a symbolic dimension such as `batch`. */
  dims: (number | string)[];
}

/** A small ONNX graph description for {@link encodeOnnxModel}. */
export interface OnnxGraph {
  /** Nodes in topological order. */
  nodes: OnnxNode[];
  /** Constant tensors. */
  initializers: OnnxInitializer[];
  /** Graph inputs. */
  inputs: OnnxValue[];
  /** Graph outputs. */
  outputs: OnnxValue[];
}

function encodeTensor(init: OnnxInitializer): ProtoWriter {
  const t = new ProtoWriter();
  for (const d of init.dims) t.int(1, d);
  t.int(2, init.int64 ? INT64 : FLOAT).bytes(8, init.name);
  const raw = init.int64
    ? new Uint8Array(BigInt64Array.from(init.values, (v) => BigInt(v)).buffer)
    : new Uint8Array(Float32Array.from(init.values).buffer);
  return t.bytes(9, raw);
}

function encodeValue(value: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of value.dims) {
    shape.bytes(
      1,
      typeof d === "string" ? new ProtoWriter().bytes(2, d) : new ProtoWriter().int(1, d),
    );
  }
  const tensorType = new ProtoWriter().int(1, value.type === "int64" ? INT64 : FLOAT).bytes(
    2,
    shape,
  );
  return new ProtoWriter().bytes(1, value.name).bytes(2, new ProtoWriter().bytes(1, tensorType));
}

function encodeNode(node: OnnxNode, index: number): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of node.inputs) n.bytes(1, i);
  for (const o of node.outputs) n.bytes(2, o);
  n.bytes(3, `${node.op.toLowerCase()}_${index}`).bytes(4, node.op);
  for (const [name, value] of Object.entries(node.intAttributes ?? {})) {
    n.bytes(5, new ProtoWriter().bytes(1, name).int(3, value).int(20, 2)); // type INT
  }
  return n;
}

/**
 * Encodes `graph` as an ONNX `ModelProto` (IR version 8, default-domain opset 13).
 *
 * @param graph Nodes, initializers, inputs and outputs.
 * @returns The bytes of a `.onnx` file.
 */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  const g = new ProtoWriter();
  graph.nodes.forEach((node, i) => g.bytes(1, encodeNode(node, i)));
  g.bytes(2, "novalab_tiny");
  for (const init of graph.initializers) g.bytes(5, encodeTensor(init));
  for (const v of graph.inputs) g.bytes(11, encodeValue(v));
  for (const v of graph.outputs) g.bytes(12, encodeValue(v));
  return new ProtoWriter()
    .int(1, 8)
    .bytes(2, "novalab")
    .bytes(7, g)
    .bytes(8, new ProtoWriter().bytes(1, "").int(2, 13))
    .finish();
}
