import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { moduleEntries, sourceEntries } from "./entries.ts";

await tf.setBackend("cpu");
const mnist = sourceEntries.find((e) => e.kind === "mnist")!;
const views = moduleEntries.find((e) => e.kind === "views")!;

function issues(result: { success: boolean; error?: { issues: { message: string }[] } }): string {
  assert.equal(result.success, false);
  return result.error!.issues.map((i) => i.message).join("; ");
}

Deno.test("entries: mnist schema defaults, strictness and messages", () => {
  const parsed = mnist.schema.parse({}) as { captions: string[]; val: number };
  assert.ok(parsed.captions.length >= 3 && parsed.captions.every((c) => c.includes("{}")));
  assert.equal(parsed.val, 0);
  assert.deepEqual(
    mnist.schema.parse({ limit: { train: "2 * 50" }, val: "0.1" }),
    { ...parsed, limit: { train: 100 }, val: 0.1 },
  );
  assert.match(
    issues(mnist.schema.safeParse({ captions: ["no placeholder"] })),
    /containing "\{\}"/,
  );
  assert.match(issues(mnist.schema.safeParse({ val: 1 })), /expected < 1/);
  assert.equal(mnist.schema.safeParse({ limit: { val: 3 } }).success, false);
  assert.equal(mnist.schema.safeParse({ path: "x" }).success, false);
  assert.equal(mnist.schema.safeParse({ limit: { train: 0 } }).success, false);
});

Deno.test("entries: mnist factory builds a limited source", async () => {
  const params = mnist.schema.parse({ limit: { train: 64, test: 32 }, val: 0.25 });
  const src = await mnist.create(params, { seed: 1, cacheDir: "" });
  assert.deepEqual(src.splits, { train: { size: 48 }, test: { size: 32 }, val: { size: 16 } });
  assert.equal(src.name, "mnist");
  src.dispose();
});

Deno.test("entries: views schema and factory", async () => {
  assert.deepEqual(views.schema.parse({}), {
    count: 2,
    crops: "global",
    ratio: [3 / 4, 4 / 3],
    flip: 0,
    grayscale: 0,
  });
  assert.deepEqual(views.schema.parse({ jitter: {}, blur: {}, solarize: {} }), {
    count: 2,
    crops: "global",
    ratio: [3 / 4, 4 / 3],
    flip: 0,
    grayscale: 0,
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
    blur: { p: 0.5, sigma: [0.1, 2] },
    solarize: { p: 0.2, threshold: 0.5 },
  });
  assert.match(issues(views.schema.safeParse({ jitter: { hue: 0.7 } })), /<= 0\.5/);
  assert.match(issues(views.schema.safeParse({ blur: { kernel: 4 } })), /odd kernel/);
  assert.equal(views.schema.safeParse({ crops: "medium" }).success, false);
  assert.match(issues(views.schema.safeParse({ scale: [0.9, 0.2] })), /0 < min <= max <= 1/);
  assert.match(issues(views.schema.safeParse({ scale: [0.5, 1.5] })), /<= 1/);
  assert.match(issues(views.schema.safeParse({ ratio: [0, 1] })), /aspect ratio/);
  assert.equal(views.schema.safeParse({ flip: 2 }).success, false);
  assert.equal(views.schema.safeParse({ global: 2 }).success, false);
  const ctx = { name: "views", inputShapes: [[-1, 28, 28, 1]], seed: 0, cacheDir: "" };
  const m = await views.create(views.schema.parse({ count: 3, size: 16 }), ctx);
  assert.deepEqual(m.parameters, []);
  const x = tf.zeros([2, 28, 28, 1]);
  const y = m.forward([x], { training: true, step: 0, seed: 1 }) as tf.Tensor;
  assert.deepEqual(y.shape, [3, 2, 16, 16, 1]);
  // Multi-crop: a second node with local crops gives a second tensor of its own size.
  const local = await views.create(views.schema.parse({ count: 4, size: 8, crops: "local" }), ctx);
  const l = local.forward([x], { training: true, step: 0, seed: 1 }) as tf.Tensor;
  assert.deepEqual(l.shape, [4, 2, 8, 8, 1]);
  tf.dispose([x, y, l]);
  assert.throws(
    () => views.create(views.schema.parse({}), { ...ctx, inputShapes: [[]] }),
    /"views" \(views\) expects images \[B, H, W, C\], got input shape \[\]/,
  );
});

Deno.test("entries: fashion_mnist defaults to Debian's directory with garment names", async () => {
  const fashion = sourceEntries.find((e) => e.kind === "fashion_mnist")!;
  const params = fashion.schema.parse({ limit: { train: 20, test: 10 } });
  try {
    await Deno.stat("/usr/share/datasets/fashion-mnist/");
  } catch {
    await assert.rejects(fashion.create(params, { seed: 0, cacheDir: "" }), /apt-get install/);
    return;
  }
  const src = await fashion.create(params, { seed: 0, cacheDir: "" });
  assert.equal(src.name, "fashion_mnist");
  assert.equal(src.classNames.length, 10);
  assert.equal(src.classNames[9], "ankle boot");
  assert.deepEqual(src.splits, { train: { size: 20 }, test: { size: 10 } });
  const b = await src.batch("train", 0, { batchSize: 4, seed: 0, shuffle: false, dropLast: true });
  assert.equal(b.label[0], 9, "the first Fashion-MNIST training image is an ankle boot");
  assert.match(b.caption[0]!, /ankle boot/);
  b.image.dispose();
  const held = await fashion.create(
    fashion.schema.parse({
      limit: { train: 200, test: 100 },
      held_out_classes: ["bag", "ankle boot"],
    }),
    { seed: 0, cacheDir: "" },
  );
  assert.deepEqual(Object.keys(held.splits).sort(), ["test", "test_seen", "test_unseen", "train"]);
  const u = await held.batch("test_unseen", 0, {
    batchSize: 5,
    seed: 0,
    shuffle: false,
    dropLast: true,
  });
  assert.ok(u.label.every((l) => l === 8 || l === 9));
  u.image.dispose();
});

Deno.test("entries: file-backed source schemas — defaults, strictness, messages", () => {
  const get = (kind: string) => sourceEntries.find((e) => e.kind === kind)!.schema;
  const manifest = get("manifest").parse({ path: "m.csv" }) as Record<string, unknown>;
  assert.equal(manifest.image, "image_path");
  assert.equal(manifest.text, "caption");
  assert.equal(manifest.size, 224);
  assert.equal(manifest.channels, 3);
  assert.equal(manifest.bad_input, "fail");
  assert.deepEqual(manifest.filter, []);
  assert.match(
    issues(get("manifest").safeParse({ path: "m.csv", filter: ["ViewPosition = PA"] })),
    /filter "ViewPosition = PA": no operator found/,
  );
  assert.match(
    issues(get("manifest").safeParse({ path: "m.csv", channels: 2 })),
    /1 \(luminance\) or 3/,
  );
  assert.equal(get("manifest").safeParse({ path: "m.csv", bad_input: "ignore" }).success, false);
  assert.equal(get("manifest").safeParse({ path: "m.csv", images: "x" }).success, false);
  const mimic = get("mimic_cxr").parse({ root: "/data/mimic" }) as Record<string, unknown>;
  assert.deepEqual(mimic.views, ["PA", "AP"]);
  assert.equal(mimic.section, "impression");
  assert.deepEqual(mimic.fallback, ["findings", "last_paragraph"]);
  assert.equal(mimic.uncertain, "negative");
  assert.equal((mimic.findings as string[]).length, 14);
  assert.equal(get("mimic_cxr").safeParse({ root: "r", section: "summary" }).success, false);
  assert.equal(get("chexpert").safeParse({ csv: "v.csv", uncertain: "maybe" }).success, false);
  const wds = get("webdataset").parse({ shards: "s-{0..3}.tar" }) as Record<string, unknown>;
  assert.equal(wds.shuffle_buffer, 1000);
  assert.equal(get("webdataset").safeParse({ shards: "s.tar", val: 0.1 }).success, false);
  assert.match(
    issues(get("image_folder").safeParse({ root: "r", captions: ["no placeholder"] })),
    /containing "\{\}"/,
  );
  assert.deepEqual(
    sourceEntries.map((e) => e.kind).sort(),
    [
      "chestxray14",
      "chexpert",
      "fashion_mnist",
      "image_folder",
      "manifest",
      "mimic_cxr",
      "mnist",
      "webdataset",
    ],
  );
});
