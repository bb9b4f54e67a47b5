import assert from "node:assert/strict";
import { encodeIdx, findIdxFile, IdxError, parseIdx, readIdx } from "./idx.ts";

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sample = { dims: [3, 2, 2], data: Uint8Array.from({ length: 12 }, (_, i) => i * 20) };

Deno.test("idx: encode → parse round trip keeps dims and bytes", () => {
  const bytes = encodeIdx(sample);
  assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 8, 3]);
  assert.equal(bytes.length, 4 + 12 + 12);
  const back = parseIdx(bytes, "mem");
  assert.deepEqual(back.dims, [3, 2, 2]);
  assert.deepEqual([...back.data], [...sample.data]);
});

Deno.test("idx: reads raw and gzipped files from disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const raw = encodeIdx(sample);
    await Deno.writeFile(`${dir}/a-idx3-ubyte`, raw);
    await Deno.writeFile(`${dir}/b-idx3-ubyte.gz`, await gzip(raw));
    for (const name of ["a-idx3-ubyte", "b-idx3-ubyte.gz"]) {
      const arr = await readIdx(`${dir}/${name}`);
      assert.deepEqual(arr.dims, [3, 2, 2]);
      assert.deepEqual([...arr.data], [...sample.data]);
    }
    assert.equal(findIdxFile(dir, "b-idx3-ubyte"), `${dir}/b-idx3-ubyte.gz`);
    assert.equal(findIdxFile(`file://${dir}/`, "a-idx3-ubyte"), `${dir}/a-idx3-ubyte`);
    assert.throws(() => findIdxFile(dir, "missing"), /not found.*"missing".*"missing\.gz"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("idx: bad magic, bad dtype, truncation and trailing bytes are named", () => {
  const good = encodeIdx(sample);
  const badMagic = good.slice();
  badMagic[0] = 0x50;
  assert.throws(() => parseIdx(badMagic, "x.idx"), (e: unknown) => {
    assert.ok(e instanceof IdxError);
    assert.match(e.message, /IDX file "x\.idx": bad magic 50 00 08 03/);
    return true;
  });
  const floats = good.slice();
  floats[2] = 0x0d;
  assert.throws(() => parseIdx(floats, "f"), /dtype 0xd \(float32\).*expected 0x08/);
  assert.throws(() => parseIdx(good.subarray(0, 2), "t"), /truncated: 2 bytes/);
  assert.throws(() => parseIdx(good.subarray(0, 10), "t"), /truncated header/);
  assert.throws(
    () => parseIdx(good.subarray(0, good.length - 1), "t"),
    /"t": truncated: dims \[3, 2, 2\] need 12 data bytes, found 11/,
  );
  const longer = new Uint8Array(good.length + 3);
  longer.set(good);
  assert.throws(() => parseIdx(longer, "t"), /trailing bytes/);
});

Deno.test("idx: corrupt gzip and unreadable files give IdxError with the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gz = await gzip(encodeIdx(sample));
    await Deno.writeFile(`${dir}/c.gz`, gz.subarray(0, gz.length - 10));
    await assert.rejects(readIdx(`${dir}/c.gz`), /c\.gz": corrupt or truncated gzip/);
    await assert.rejects(readIdx(`${dir}/nope`), /nope": cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
