/**
 * The [safetensors](https://github.com/huggingface/safetensors) file format,
 * F32 and I32 tensors: encode and strictly validating decode (which also reads
 * F16 and BF16, widened to float32), with no dependency on tfjs.
 *
 * Layout: an unsigned 64-bit little-endian header length `N`; `N` bytes of
 * UTF-8 JSON `{"__metadata__": {..strings..}, "<name>": {"dtype": "F32",
 * "shape": [..], "data_offsets": [begin, end]}, ...}` padded with spaces to a
 * multiple of 8; then the tensors' row-major little-endian bytes, packed
 * back to back (offsets are relative to the start of this data section).
 *
 * @module
 */
import { widenHalf } from "./half_float.ts";

/** Element types this module writes (and reads, with F16 and BF16). */
export type SafetensorsDtype = "F32" | "I32";

/** One tensor's host data: a row-major buffer and its shape (`[]` for a scalar). */
export interface TensorData {
  /** Dimensions; the product must equal `data.length`. */
  shape: number[];
  /** Values, row-major: `Float32Array` is stored as F32, `Int32Array` as I32. */
  data: Float32Array | Int32Array;
}

/** What {@linkcode decodeSafetensors} returns. */
export interface DecodedSafetensors {
  /** Tensors by name, in data-offset order. */
  tensors: Map<string, TensorData>;
  /** The `__metadata__` string map (empty when the file has none). */
  metadata: Record<string, string>;
}

const METADATA_KEY = "__metadata__";
/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;
/** Dtypes read (F16 and BF16 widened to float32, exactly), with their bytes per element. */
const READ: Readonly<Record<string, number>> = { F32: 4, I32: 4, F16: 2, BF16: 2 };
/** Dtypes of the safetensors specification (for telling "unsupported" from "unknown"). */
const SPEC_DTYPES = (
  "BOOL U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 F4 F6_E2M3 F6_E3M2 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64 C64"
).split(" ");
const ENTRY_KEYS = ["dtype", "shape", "data_offsets"];
// Deno runs only on little-endian hosts (x86-64, AArch64), where typed arrays are
// already in the file's byte order; refuse loudly rather than corrupt data elsewhere.
function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("safetensors: this host is big-endian; only little-endian hosts are supported");
  }
}

function shapeSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) &&
    shape.every((d) => Number.isSafeInteger(d) && d >= 0) &&
    Number.isSafeInteger(shapeSize(shape as number[]) * 4);
}

/** Checks one tensor given to the encoder; returns its dtype. */
function checkInput(name: string, t: TensorData): SafetensorsDtype {
  if (name === "" || name === METADATA_KEY) {
    throw new Error(
      `encodeSafetensors: invalid tensor name ${
        JSON.stringify(name)
      }; expected a non-empty name other than "${METADATA_KEY}"`,
    );
  }
  const dtype = t?.data instanceof Float32Array
    ? "F32"
    : t?.data instanceof Int32Array
    ? "I32"
    : undefined;
  if (!dtype) {
    throw new TypeError(
      `encodeSafetensors: tensor '${name}' has data of type ${
        t?.data?.constructor?.name ?? typeof t?.data
      }; expected Float32Array (F32) or Int32Array (I32)`,
    );
  }
  if (!isShape(t.shape) || shapeSize(t.shape) !== t.data.length) {
    throw new Error(
      `encodeSafetensors: tensor '${name}' has shape ${
        JSON.stringify(t.shape)
      } but ${t.data.length} values; expected non-negative integer dimensions whose product is the value count`,
    );
  }
  return dtype;
}

/**
 * Serialises tensors to safetensors bytes, readable by `safetensors.torch.load_file`,
 * `safetensors.numpy.load_file` and the Rust crate.
 *
 * Tensors are laid out in name order (code-unit order), the header lists
 * `__metadata__` first (omitted when `metadata` is undefined) and then the
 * tensors in the same order, and is padded with spaces to a multiple of 8 bytes
 * (so the data section is 8-byte aligned, as the reference writer does).
 *
 * @param tensors Tensors by name (names non-empty, not `__metadata__`).
 * @param metadata String-to-string metadata (e.g. `step`, `seed`, `format_version`).
 * @returns The complete file contents.
 */
export function encodeSafetensors(
  tensors: Map<string, TensorData>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const { header, dataBytes } = buildHeader(names, tensors, metadata);
  assertLittleEndian();
  const out = new Uint8Array(8 + header.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let at = 8 + header.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

/** The space-padded UTF-8 JSON header for `names` (in that order) and the data size. */
function buildHeader(
  names: string[],
  tensors: Map<string, TensorData>,
  metadata: Record<string, string> | undefined,
): { header: Uint8Array; dataBytes: number } {
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(
          `encodeSafetensors: metadata '${k}' is ${typeof v} ${String(v)}; ` +
            `safetensors metadata values must be strings (use String(value))`,
        );
      }
    }
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const dtype = checkInput(name, t);
    const info = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.byteLength;
  }
  const text = `{${parts.join(",")}}`;
  const length = new TextEncoder().encode(text).length;
  const header = new TextEncoder().encode(text + " ".repeat((8 - (length % 8)) % 8));
  return { header, dataBytes: offset };
}

/** A decoding error that says what is wrong, with the file's context. */
function bad(what: string): Error {
  return new Error(`decodeSafetensors: ${what}`);
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype | "F16" | "BF16";
  shape: number[];
  begin: number;
  end: number;
}

/** Reads and checks the length prefix and the JSON header; returns it and the data start. */
function readHeader(bytes: Uint8Array): { header: Record<string, unknown>; dataStart: number } {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`decodeSafetensors: expected a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length < 8) {
    throw bad(
      `input is ${bytes.length} bytes; a safetensors file starts with an 8-byte header length`,
    );
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw bad(
      `header length ${n} exceeds the ${
        bytes.length - 8
      } bytes after the length prefix (or the ${MAX_HEADER_BYTES}-byte limit); the file is truncated or not safetensors`,
    );
  }
  const dataStart = 8 + Number(n);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    throw bad(`header (${n} bytes) is not valid UTF-8`);
  }
  if (!text.startsWith("{")) {
    throw bad(`header must start with '{', got ${JSON.stringify(text.slice(0, 16))}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw bad(
      `header must be a JSON object, got ${Array.isArray(header) ? "an array" : String(header)}`,
    );
  }
  return { header: header as Record<string, unknown>, dataStart };
}

function readMetadata(value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw bad(`"${METADATA_KEY}" must be an object of strings, got ${JSON.stringify(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw bad(`"${METADATA_KEY}" value '${k}' is ${JSON.stringify(v)}; expected a string`);
    }
  }
  return { ...(value as Record<string, string>) };
}

/** Checks one header entry's fields. */
function readEntry(name: string, value: unknown): Entry {
  const where = `tensor '${name}'`;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw bad(
      `${where}: expected an object with ${ENTRY_KEYS.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  const v = value as Record<string, unknown>;
  const extra = Object.keys(v).filter((k) => !ENTRY_KEYS.includes(k));
  if (extra.length > 0) {
    throw bad(`${where}: unknown field(s) ${extra.join(", ")}; expected ${ENTRY_KEYS.join(", ")}`);
  }
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== "string" || !Object.hasOwn(READ, dtype)) {
    const known = SPEC_DTYPES.includes(dtype as string);
    throw bad(
      `${where}: dtype ${JSON.stringify(dtype)} is ${
        known ? "a safetensors dtype this reader does not support" : "unknown"
      }; supported: ${Object.keys(READ).join(", ")}`,
    );
  }
  if (!isShape(shape)) {
    throw bad(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  const ok = Array.isArray(offsets) && offsets.length === 2 &&
    offsets.every((o) => Number.isSafeInteger(o) && o >= 0) && offsets[0] <= offsets[1];
  if (!ok) {
    throw bad(
      `${where}: data_offsets ${
        JSON.stringify(offsets)
      }; expected [begin, end] with 0 <= begin <= end`,
    );
  }
  return { name, dtype: dtype as Entry["dtype"], shape, begin: offsets[0], end: offsets[1] };
}

/** Checks that the entries tile the data section exactly and match their shapes. */
function checkLayout(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) {
      const kind = e.begin < expected ? "overlaps the previous tensor" : "leaves a gap";
      throw bad(
        `tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] ${kind}; expected it to begin at ${expected} (offsets must be contiguous)`,
      );
    }
    const want = shapeSize(e.shape) * READ[e.dtype]!;
    if (e.end - e.begin !== want) {
      throw bad(
        `tensor '${e.name}': ${e.dtype} shape [${e.shape}] needs ${want} bytes but data_offsets [${e.begin}, ${e.end}] span ${
          e.end - e.begin
        }`,
      );
    }
    expected = e.end;
  }
  if (expected !== dataLength) {
    throw bad(
      `the data section holds ${dataLength} bytes but the tensors cover ${expected}; the file is ${
        dataLength < expected ? "truncated" : "followed by trailing bytes"
      }`,
    );
  }
}

/** Copies one tensor's little-endian bytes into a fresh typed array. */
function readData(bytes: Uint8Array, start: number, e: Entry): Float32Array | Int32Array {
  const copy = bytes.slice(start + e.begin, start + e.end);
  if (e.dtype === "F16" || e.dtype === "BF16") return widenHalf(copy, e.dtype);
  return e.dtype === "F32" ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
}

/**
 * Parses safetensors bytes, validating everything before trusting any of it:
 * the header length lies within the input (and under 100 MB), the header is
 * UTF-8 JSON, each entry has exactly `dtype` (F32, I32, or F16 / BF16, widened
 * to float32), `shape` and `data_offsets`, the offsets tile the data section
 * contiguously from 0 to its end, and each byte length equals `product(shape)`
 * times the dtype's size. Errors name the tensor,
 * the value found and what was expected.
 *
 * @param bytes The whole file.
 * @returns The tensors (copied out of `bytes`) and the metadata.
 */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const { header, dataStart } = readHeader(bytes);
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = readMetadata(value);
    else entries.push(readEntry(name, value));
  }
  checkLayout(entries, bytes.length - dataStart);
  assertLittleEndian();
  const tensors = new Map<string, TensorData>();
  for (const e of entries) {
    tensors.set(e.name, { shape: e.shape, data: readData(bytes, dataStart, e) });
  }
  return { tensors, metadata };
}
