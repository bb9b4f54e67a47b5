/**
 * Reader (and a small writer, for fixtures) of the IDX format used by MNIST and
 * Fashion-MNIST: two zero bytes, a dtype byte (`0x08` = unsigned byte), a rank
 * byte, then one big-endian `uint32` per dimension and the row-major data.
 * Files may be raw or gzipped (`.gz` suffix or gzip magic `1f 8b`).
 *
 * @module
 */

/** A decoded IDX array of unsigned bytes. */
export interface IdxArray {
  /** Dimensions, outermost first (e.g. `[N, 28, 28]` for images, `[N]` for labels). */
  dims: number[];
  /** Row-major values, `product(dims)` bytes. */
  data: Uint8Array;
}

/** Thrown for an unreadable or malformed IDX file; the message names the file and the fault. */
export class IdxError extends Error {
  /** Creates the error for `path` with a description of what was wrong. */
  constructor(readonly path: string, detail: string) {
    super(`IDX file "${path}": ${detail}`);
    this.name = "IdxError";
  }
}

const DTYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

/**
 * Decodes IDX bytes (already decompressed).
 *
 * @param bytes The whole file.
 * @param path Shown in error messages.
 * @returns The dimensions and a view of the data (no copy).
 */
export function parseIdx(bytes: Uint8Array, path: string): IdxArray {
  if (bytes.length < 4) {
    throw new IdxError(path, `truncated: ${bytes.length} bytes, expected at least a 4-byte header`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new IdxError(
      path,
      `bad magic ${magic}; expected 00 00 <dtype> <rank> (is this an IDX file?)`,
    );
  }
  const dtype = bytes[2];
  if (dtype !== 0x08) {
    const name = DTYPE_NAMES[dtype] ?? "unknown";
    throw new IdxError(
      path,
      `dtype 0x${dtype.toString(16)} (${name}) is not supported; expected 0x08 (unsigned byte)`,
    );
  }
  const rank = bytes[3];
  const headerSize = 4 + 4 * rank;
  if (rank === 0 || bytes.length < headerSize) {
    throw new IdxError(
      path,
      rank === 0
        ? "rank 0; expected at least one dimension"
        : `truncated header: ${bytes.length} bytes, rank ${rank} needs ${headerSize}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const available = bytes.length - headerSize;
  if (available !== count) {
    const what = available < count ? "truncated" : "trailing bytes";
    throw new IdxError(
      path,
      `${what}: dims [${dims.join(", ")}] need ${count} data bytes, found ${available}`,
    );
  }
  return { dims, data: bytes.subarray(headerSize) };
}

/**
 * Encodes an unsigned-byte IDX file (used to write test fixtures).
 *
 * @param array Dimensions and data; `data.length` must equal the product of `dims`.
 * @returns The encoded bytes (uncompressed).
 */
export function encodeIdx(array: IdxArray): Uint8Array {
  const count = array.dims.reduce((a, b) => a * b, 1);
  if (array.data.length !== count) {
    throw new RangeError(
      `encodeIdx: dims [${array.dims.join(", ")}] need ${count} bytes, got ${array.data.length}`,
    );
  }
  const header = 4 + 4 * array.dims.length;
  const out = new Uint8Array(header + count);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = array.dims.length;
  array.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(array.data, header);
  return out;
}

/** Whether `bytes` start with the gzip magic number. */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes`; a corrupt or truncated stream becomes an {@link IdxError}. */
async function gunzip(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new IdxError(path, `corrupt or truncated gzip data (${(e as Error).message})`);
  }
}

/**
 * Reads and decodes an IDX file, raw or gzipped.
 *
 * @param path File path (gzip is detected by the `.gz` suffix or the magic bytes).
 * @returns The decoded array.
 */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new IdxError(path, `cannot read (${(e as Error).message})`);
  }
  if (path.endsWith(".gz") || isGzip(bytes)) bytes = await gunzip(bytes, path);
  return parseIdx(bytes, path);
}

/**
 * Finds `name` or `name.gz` in `dir`.
 *
 * @param dir Directory path or `file:` URL.
 * @param name Base file name, e.g. `train-images-idx3-ubyte`.
 * @returns The path of the existing file (raw preferred).
 */
export function findIdxFile(dir: string, name: string): string {
  const base = dir.startsWith("file:") ? decodeURIComponent(new URL(dir).pathname) : dir;
  const root = base.endsWith("/") ? base : `${base}/`;
  for (const candidate of [`${root}${name}`, `${root}${name}.gz`]) {
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // not there; try the next candidate
    }
  }
  throw new IdxError(
    `${root}${name}`,
    `not found (looked for "${name}" and "${name}.gz" in "${root}"); ` +
      `expected a directory holding train-/t10k- images and labels`,
  );
}
