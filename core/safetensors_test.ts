import assert from "node:assert/strict";
import { decodeSafetensors, encodeSafetensors, type TensorData } from "./safetensors.ts";

const enc = new TextEncoder();

/** A file from a raw header text (unpadded) and raw data bytes. */
function craft(header: string, data: number[] = []): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function sampleTensors(): Map<string, TensorData> {
  const backing = new Float32Array([99, 0.5, -1.25, 3.4e38, 1e-45, -0, 7, 99]);
  return new Map<string, TensorData>([
    ["image.blocks.0.attn.qkv.weight", { shape: [2, 3], data: backing.subarray(1, 7) }],
    ["optim.step", { shape: [], data: new Int32Array([42]) }],
    ["empty", { shape: [0, 3], data: new Float32Array(0) }],
    ["ids", { shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) }],
    ["ünï.çødé", { shape: [1, 1, 1], data: new Float32Array([Math.PI]) }],
  ]);
}

Deno.test("safetensors: golden bytes of a tiny file", () => {
  const bytes = encodeSafetensors(
    new Map<string, TensorData>([
      ["b", { shape: [], data: new Int32Array([7]) }],
      ["a", { shape: [2], data: new Float32Array([1, -2]) }],
    ]),
    { step: "3" },
  );
  const header = '{"__metadata__":{"step":"3"},' +
    '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}} '; // 135 bytes + 1 space = 136
  const expected = new Uint8Array([
    ...[136, 0, 0, 0, 0, 0, 0, 0], // u64 LE header length
    ...enc.encode(header),
    ...[0, 0, 128, 63, 0, 0, 0, 192], // a = [1, -2] as f32 LE
    ...[7, 0, 0, 0], // b = 7 as i32 LE
  ]);
  assert.deepEqual(bytes, expected);
});

Deno.test("safetensors: round trip keeps names, shapes, dtypes, values and metadata", () => {
  const tensors = sampleTensors();
  const metadata = { step: "120", seed: "0", format_version: "1", note: "ünï" };
  const bytes = encodeSafetensors(tensors, metadata);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0, "header padded to a multiple of 8");
  const decoded = decodeSafetensors(bytes);
  assert.deepEqual(decoded.metadata, metadata);
  assert.equal(decoded.tensors.size, tensors.size);
  for (const [name, t] of tensors) {
    const d = decoded.tensors.get(name)!;
    assert.deepEqual(d.shape, t.shape, name);
    assert.equal(d.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(d.data), Array.from(t.data), name);
  }
  // Data order is name order (code units): empty, ids, image…, optim.step, ünï…
  assert.deepEqual([...decoded.tensors.keys()], [...tensors.keys()].sort());
  // No metadata given → no __metadata__ entry, decoded as {}.
  const plain = encodeSafetensors(new Map([["x", { shape: [1], data: new Float32Array([1]) }]]));
  assert.ok(!new TextDecoder().decode(plain).includes("__metadata__"));
  assert.deepEqual(decodeSafetensors(plain).metadata, {});
  assert.equal(decodeSafetensors(encodeSafetensors(new Map())).tensors.size, 0);
});

Deno.test("safetensors: decode copies out of the input (no aliasing, unaligned input ok)", () => {
  const bytes = encodeSafetensors(new Map([["x", { shape: [2], data: new Float32Array([1, 2]) }]]));
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const d = decodeSafetensors(shifted.subarray(3));
  shifted.fill(0);
  assert.deepEqual(Array.from(d.tensors.get("x")!.data), [1, 2]);
});

Deno.test("safetensors: encode rejects bad input with a clear message", () => {
  const f = (shape: number[], n: number) => ({ shape, data: new Float32Array(n) });
  assert.throws(
    () => encodeSafetensors(new Map([["w", f([2, 2], 3)]])),
    /tensor 'w' has shape \[2,2\] but 3 values/,
  );
  assert.throws(() => encodeSafetensors(new Map([["w", f([-1], 0)]])), /shape \[-1\]/);
  assert.throws(() => encodeSafetensors(new Map([["", f([1], 1)]])), /invalid tensor name ""/);
  assert.throws(
    () => encodeSafetensors(new Map([["__metadata__", f([1], 1)]])),
    /invalid tensor name/,
  );
  const f64 = { shape: [1], data: new Float64Array(1) } as unknown as TensorData;
  assert.throws(
    () => encodeSafetensors(new Map([["w", f64]])),
    /Float64Array; expected Float32Array \(F32\) or Int32Array \(I32\)/,
  );
  const meta = { step: 3 } as unknown as Record<string, string>;
  assert.throws(
    () => encodeSafetensors(new Map(), meta),
    /metadata 'step' is number 3; .*must be strings/,
  );
});

Deno.test("safetensors: decode names what is wrong in corrupted or truncated files", () => {
  const ok = encodeSafetensors(new Map([["w", { shape: [2], data: new Float32Array([1, 2]) }]]));
  const f32 = (shape: string, offsets: string) =>
    `{"w":{"dtype":"F32","shape":${shape},"data_offsets":${offsets}}}`;
  const data8 = [0, 0, 128, 63, 0, 0, 0, 64];
  const cases: [Uint8Array, RegExp][] = [
    [ok.subarray(0, 5), /input is 5 bytes; a safetensors file starts with an 8-byte header length/],
    [ok.subarray(0, 20), /header length 56 exceeds the 12 bytes after the length prefix/],
    [
      ok.subarray(0, ok.length - 4),
      /data section holds 4 bytes but the tensors cover 8; the file is truncated/,
    ],
    [new Uint8Array([...ok, 0, 0, 0, 0]), /holds 12 bytes .* followed by trailing bytes/],
    [craft('{"w":{"dtype":"F32",', data8), /header is not valid JSON/],
    [craft("[1, 2]"), /header must start with '\{', got "\[1, 2\]"/],
    [
      craft('{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', data8),
      /tensor 'w': dtype "F64" is a safetensors dtype this reader does not support; supported: F32, I32, F16, BF16/,
    ],
    [
      craft('{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}', data8),
      /dtype "Q7" is unknown; supported: F32, I32, F16, BF16/,
    ],
    [
      craft(f32("[3]", "[0,8]"), data8),
      /tensor 'w': F32 shape \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/,
    ],
    [
      craft(f32("[2]", "[4,12]"), [...data8, 0, 0, 0, 0]),
      /tensor 'w': data_offsets \[4, 12\] leaves a gap; expected it to begin at 0/,
    ],
    [
      craft(f32("[2]", "[8,0]"), data8),
      /data_offsets \[8,0\]; expected \[begin, end\] with 0 <= begin <= end/,
    ],
    [craft(f32("[2.5]", "[0,8]"), data8), /shape \[2.5\] is not a list of non-negative integers/],
    [
      craft('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', data8),
      /unknown field\(s\) x; expected dtype, shape, data_offsets/,
    ],
    [craft('{"w":3}'), /tensor 'w': expected an object with dtype, shape, data_offsets, got 3/],
    [craft('{"__metadata__":{"step":3}}'), /"__metadata__" value 'step' is 3; expected a string/],
    [craft('{"__metadata__":[]}'), /"__metadata__" must be an object of strings/],
  ];
  for (const [bytes, re] of cases) assert.throws(() => decodeSafetensors(bytes), re);
  // Overlap: two tensors sharing bytes.
  const overlap =
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  assert.throws(
    () => decodeSafetensors(craft(overlap, data8)),
    /tensor 'b': data_offsets \[4, 8\] overlaps the previous tensor/,
  );
  // Invalid UTF-8 in the header.
  const badUtf8 = craft('{"w":1}');
  badUtf8[10] = 0xff;
  assert.throws(() => decodeSafetensors(badUtf8), /header \(7 bytes\) is not valid UTF-8/);
  // A header length far beyond the input (would be a huge allocation).
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 60n, true);
  assert.throws(() => decodeSafetensors(huge), /header length 1152921504606846976 exceeds/);
});

// ---- independent reader/writer: Python 3 with json + struct (+ numpy when present) ----

const PY_READ = `
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
base = 8 + n
try:
    import numpy as np
except ImportError:
    np = None
out = {"metadata": header.pop("__metadata__", {}), "tensors": {}, "numpy": np is not None}
for name, info in header.items():
    b, e = info["data_offsets"]
    buf = raw[base + b:base + e]
    fmt = {"F32": ("<f4", "f"), "I32": ("<i4", "i")}[info["dtype"]]
    if np is not None:
        values = np.frombuffer(buf, dtype=fmt[0]).reshape(info["shape"]).ravel().tolist()
    else:
        values = list(struct.unpack("<%d%s" % (len(buf) // 4, fmt[1]), buf))
    out["tensors"][name] = {"dtype": info["dtype"], "shape": info["shape"], "values": values, "begin": b}
print(json.dumps(out))
`;

// Writes like the reference (Rust) serializer: data sorted by dtype (F32 before I32)
// then name, header with __metadata__ first, padded with spaces to 8 bytes.
const PY_WRITE = `
import json, struct, sys
tensors = [("z.weight", "F32", [2, 2], [0.5, -1.5, 2.0, 1e-3]), ("a.bias", "F32", [1], [-0.0]),
           ("count", "I32", [], [-7]),
           ("half", "F16", [5], [1.0, -2.5, 65504.0, 2.0 ** -24, 0.1]),
           ("brain", "BF16", [3], [1.0, -3.140625, 1e-3])]
ORDER = ["F32", "I32", "F16", "BF16"]
tensors.sort(key=lambda t: (ORDER.index(t[1]), t[0]))
header, data = {"__metadata__": {"step": "9", "seed": "1"}}, b""
for name, dtype, shape, values in tensors:
    if dtype == "BF16":  # the upper half of each float32 (truncation, as torch's .bfloat16() of these)
        blob = b"".join(struct.pack("<f", v)[2:] for v in values)
    else:
        blob = struct.pack("<%d%s" % (len(values), {"F32": "f", "I32": "i", "F16": "e"}[dtype]), *values)
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
    data += blob
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
`;

async function python(script: string, arg: string): Promise<string> {
  const out = await new Deno.Command("python3", { args: ["-c", script, arg] }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `python3 failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

async function pythonAvailable(): Promise<string | undefined> {
  const perm = await Deno.permissions.query({ name: "run", command: "python3" });
  if (perm.state !== "granted") return "no --allow-run permission for python3";
  try {
    const r = await new Deno.Command("python3", { args: ["--version"] }).output();
    return r.code === 0 ? undefined : "python3 --version failed";
  } catch {
    return "python3 is not installed";
  }
}

const skipReason = await pythonAvailable();
if (skipReason) {
  console.warn(`safetensors_test: skipping the independent Python checks (${skipReason})`);
}

Deno.test({
  name: "safetensors: an independent Python reader sees the same tensors and metadata",
  ignore: skipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/ckpt.safetensors`;
      const tensors = sampleTensors();
      await Deno.writeFile(path, encodeSafetensors(tensors, { step: "5", seed: "0" }));
      const seen = JSON.parse(await python(PY_READ, path));
      assert.deepEqual(seen.metadata, { step: "5", seed: "0" });
      assert.deepEqual(Object.keys(seen.tensors).sort(), [...tensors.keys()].sort());
      for (const [name, t] of tensors) {
        const p = seen.tensors[name];
        assert.equal(p.dtype, t.data instanceof Float32Array ? "F32" : "I32", name);
        assert.deepEqual(p.shape, t.shape, name);
        assert.deepEqual(p.values, Array.from(t.data), name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "safetensors: decodes a file written by an independent Python writer",
  ignore: skipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/py.safetensors`;
      await python(PY_WRITE, path);
      const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path));
      assert.deepEqual(metadata, { step: "9", seed: "1" });
      assert.deepEqual(
        [...tensors.keys()],
        ["a.bias", "z.weight", "count", "half", "brain"],
        "offset order",
      );
      // F16 (Python's struct "e": IEEE half, round to nearest) and BF16, widened exactly.
      assert.ok(tensors.get("half")!.data instanceof Float32Array);
      assert.deepEqual(Array.from(tensors.get("half")!.data), [
        1,
        -2.5,
        65504,
        2 ** -24,
        0.0999755859375,
      ]);
      const truncated = (v: number) => {
        const u = new Uint32Array(new Float32Array([v]).buffer);
        u[0] = u[0]! & 0xffff0000;
        return new Float32Array(u.buffer)[0]!;
      };
      assert.deepEqual(Array.from(tensors.get("brain")!.data), [1, -3.140625, truncated(1e-3)]);
      assert.deepEqual(tensors.get("z.weight")!.shape, [2, 2]);
      assert.deepEqual(Array.from(tensors.get("z.weight")!.data), [
        0.5,
        -1.5,
        2,
        Math.fround(1e-3),
      ]);
      assert.ok(Object.is(tensors.get("a.bias")!.data[0], -0));
      assert.ok(tensors.get("count")!.data instanceof Int32Array);
      assert.deepEqual(tensors.get("count")!.shape, []);
      assert.equal(tensors.get("count")!.data[0], -7);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
