import assert from "node:assert/strict";
import { DecodeError, decodeImage, decodeInto, mapLimit, peekDepth } from "./decode.ts";
import { fixturePixels, writeImage, writeTruncatedJpeg } from "./fixtures.ts";

const dir = await Deno.makeTempDir({ prefix: "novalab_decode_" });
const mean = (a: Float32Array, c = 1, k = 0) => {
  let s = 0;
  for (let i = k; i < a.length; i += c) s += a[i]!;
  return s / (a.length / c);
};

Deno.test("decode: colour JPEG at its size matches the written pixels (JPEG tolerance)", async () => {
  await writeImage(`${dir}/rgb.jpg`, { size: 16, value: 0.5 });
  const got = await decodeImage(await Deno.readFile(`${dir}/rgb.jpg`), {
    height: 16,
    width: 16,
    channels: 3,
  });
  const want = fixturePixels({ size: 16, value: 0.5 });
  assert.equal(got.length, 16 * 16 * 3);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  assert.ok(worst < 0.06, `max error ${worst}`);
  // Channel tints survive: R < G < B by 0.1.
  assert.ok(Math.abs(mean(got, 3, 0) - 0.4) < 0.02 && Math.abs(mean(got, 3, 2) - 0.6) < 0.02);
});

Deno.test("decode: greyscale → 3 channels replicates; colour → 1 channel is luminance", async () => {
  await writeImage(`${dir}/grey.png`, { size: 8, channels: 1, format: "png", value: 0.25 });
  const g3 = await decodeImage(await Deno.readFile(`${dir}/grey.png`), {
    height: 8,
    width: 8,
    channels: 3,
  });
  for (let i = 0; i < g3.length; i += 3) assert.ok(g3[i] === g3[i + 1] && g3[i] === g3[i + 2]);
  assert.ok(Math.abs(mean(g3) - 0.25) < 0.01);
  await writeImage(`${dir}/c.png`, { size: 8, format: "png", value: 0.5 });
  const c1 = await decodeImage(await Deno.readFile(`${dir}/c.png`), {
    height: 8,
    width: 8,
    channels: 1,
  });
  assert.equal(c1.length, 64);
  // Rec. 601 luminance of (0.4, 0.5, 0.6): 0.299·0.4 + 0.587·0.5 + 0.114·0.6 ≈ 0.481.
  assert.ok(Math.abs(mean(c1) - 0.481) < 0.01, `luminance ${mean(c1)}`);
});

Deno.test("decode: 16-bit PNG keeps 16-bit precision", async () => {
  // value 0.3 + gradient: 16-bit levels differ from the 8-bit ones by up to 1/510.
  await writeImage(`${dir}/deep.png`, { size: 8, channels: 1, deep: true, value: 0.3 });
  const got = await decodeImage(await Deno.readFile(`${dir}/deep.png`), {
    height: 8,
    width: 8,
    channels: 1,
  });
  const want = fixturePixels({ size: 8, channels: 1, value: 0.3 });
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  assert.ok(worst < 1e-4, `16-bit error ${worst} (8-bit would be ~1e-3)`);
});

Deno.test("decode: cover crops, contain letterboxes, fill stretches", async () => {
  await writeImage(`${dir}/wide.png`, { size: [10, 40], format: "png", channels: 1, value: 0.8 });
  const bytes = await Deno.readFile(`${dir}/wide.png`);
  const opts = { height: 10, width: 10, channels: 1 as const };
  const cover = await decodeImage(bytes, { ...opts, fit: "cover" });
  assert.ok(Math.abs(mean(cover) - 0.8) < 0.01);
  const contain = await decodeImage(bytes, { ...opts, fit: "contain" });
  // 40×10 → 10×2.5 band in the middle; the rest is black.
  assert.ok(contain[0] === 0 && mean(contain) < 0.35, `contain mean ${mean(contain)}`);
  const fill = await decodeImage(bytes, { ...opts, fit: "fill" });
  assert.ok(Math.abs(mean(fill) - 0.8) < 0.01);
});

Deno.test("decode: truncated JPEG and non-images are DecodeErrors naming the file", async () => {
  await writeTruncatedJpeg(`${dir}/cut.jpg`);
  const opts = { height: 8, width: 8, channels: 3 as const };
  await assert.rejects(
    decodeImage(await Deno.readFile(`${dir}/cut.jpg`), { ...opts, path: "cut.jpg" }),
    (e: Error) =>
      e instanceof DecodeError && /"cut\.jpg".*(premature|end|corrupt)/i.test(e.message),
  );
  await assert.rejects(
    decodeImage(new TextEncoder().encode("not an image"), { ...opts, path: "x.txt" }),
    /cannot decode image "x\.txt"/,
  );
});

Deno.test("decode: mapLimit keeps order and never exceeds the limit", async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3, 0], {
    limit: 2,
    fn: async (v, i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, v));
      inFlight--;
      return `${i}:${v}`;
    },
  });
  assert.deepEqual(out, ["0:5", "1:1", "2:4", "3:2", "4:3", "5:0"]);
  assert.equal(peak, 2);
  assert.deepEqual(await mapLimit([], { limit: 3, fn: () => Promise.resolve(1) }), []);
});

Deno.test("decode: header depth sniffing; paths decode like bytes; a missing path is NotFound", async () => {
  await writeImage(`${dir}/p8.png`, { size: 8, format: "png" });
  await writeImage(`${dir}/p16.png`, { size: 8, deep: true });
  await writeImage(`${dir}/j.jpg`, { size: 8 });
  const head = async (f: string) => (await Deno.readFile(`${dir}/${f}`)).subarray(0, 32);
  assert.equal(peekDepth(await head("j.jpg")), 8);
  assert.equal(peekDepth(await head("p8.png")), 8);
  assert.equal(peekDepth(await head("p16.png")), 16);
  assert.equal(peekDepth(new TextEncoder().encode("RIFF....WEBP")), undefined);
  const opts = { height: 8, width: 8, channels: 3 as const, path: "x" };
  const out = new Float32Array(8 * 8 * 3);
  await decodeInto(`${dir}/p16.png`, { ...opts, out, offset: 0 });
  assert.deepEqual(out, await decodeImage(await Deno.readFile(`${dir}/p16.png`), opts));
  await assert.rejects(
    decodeInto(`${dir}/none.jpg`, { ...opts, out, offset: 0 }),
    Deno.errors.NotFound,
  );
});

Deno.test("decode: cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
