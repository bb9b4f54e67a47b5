import assert from "node:assert/strict";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "novalab_atomic_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("writeFileAtomic: writes bytes and strings; no temporary file left", async () => {
  await withTempDir(async (dir) => {
    const bytes = Uint8Array.from({ length: 70000 }, (_, i) => (i * 31) % 256);
    await writeFileAtomic(`${dir}/a.bin`, bytes);
    await writeFileAtomic(`${dir}/b.txt`, "héllo\n");
    await writeFileAtomic(`${dir}/empty`, new Uint8Array(0));
    assert.deepEqual(await Deno.readFile(`${dir}/a.bin`), bytes);
    assert.equal(await Deno.readTextFile(`${dir}/b.txt`), "héllo\n");
    assert.equal((await Deno.readFile(`${dir}/empty`)).length, 0);
    assert.deepEqual(await listDir(dir), ["a.bin", "b.txt", "empty"]);
  });
});

Deno.test("writeFileAtomic: replaces an existing file and keeps its mode", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(path, "old content that is longer than the new one");
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    await writeFileAtomic(path, "new");
    assert.equal(await Deno.readTextFile(path), "new");
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await listDir(dir), ["state.json"]);
    await writeFileAtomic(`${dir}/x`, "x", { mode: 0o640 });
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${dir}/x`)).mode! & 0o777, 0o640);
    }
  });
});

Deno.test("writeFileAtomic: on failure the temp file is removed and the error names the path", async () => {
  await withTempDir(async (dir) => {
    // The target is a non-empty directory: the final rename must fail.
    await Deno.mkdir(`${dir}/target`);
    await Deno.writeTextFile(`${dir}/target/keep`, "keep");
    await assert.rejects(
      () => writeFileAtomic(`${dir}/target`, "data"),
      (e: Error) => e.message.includes(`could not write '${dir}/target'`),
    );
    assert.deepEqual(await listDir(dir), ["target"], "no .tmp left behind");
    assert.equal(await Deno.readTextFile(`${dir}/target/keep`), "keep");
    // A missing directory fails before anything is created.
    await assert.rejects(
      () => writeFileAtomic(`${dir}/missing/f`, "x"),
      /could not write .*missing\/f/,
    );
  });
});

Deno.test("writeFileAtomic: concurrent readers only ever see a complete old or new file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/big.bin`;
    const a = new Uint8Array(1 << 18).fill(0xaa);
    const b = new Uint8Array(1 << 18).fill(0xbb);
    await writeFileAtomic(path, a);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 10; i++) await writeFileAtomic(path, i % 2 === 0 ? b : a);
      writing = false;
    })();
    let reads = 0;
    try {
      while (writing) {
        const got = await Deno.readFile(path);
        assert.equal(got.length, a.length, "never a partial file");
        assert.ok(got.every((x) => x === got[0]), "never a mix of old and new bytes");
        reads++;
      }
    } finally {
      await writer; // let the writer finish before the directory is removed
    }
    assert.ok(reads > 0);
    assert.deepEqual(await listDir(dir), ["big.bin"]);
  });
});

Deno.test("writeJsonAtomic: pretty JSON with a trailing newline; rejects non-JSON values", async () => {
  await withTempDir(async (dir) => {
    const value = { step: 3, loss: [1.5, 0.25], name: "nova", nested: { ok: true } };
    await writeJsonAtomic(`${dir}/m.json`, value);
    const text = await Deno.readTextFile(`${dir}/m.json`);
    assert.ok(text.endsWith("}\n"));
    assert.ok(text.includes('\n  "step": 3,'));
    assert.deepEqual(JSON.parse(text), value);
    await assert.rejects(
      () => writeJsonAtomic(`${dir}/u.json`, undefined),
      /cannot write undefined to '.*u.json'; expected a JSON value/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(() => writeJsonAtomic(`${dir}/c.json`, cyclic), /circular/i);
    assert.deepEqual(await listDir(dir), ["m.json"]);
  });
});
