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
    scale: [0.5, 1],
    ratio: [3 / 4, 4 / 3],
    flip: 0,
  });
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
  tf.dispose([x, y]);
  assert.throws(
    () => views.create(views.schema.parse({}), { ...ctx, inputShapes: [[]] }),
    /"views" \(views\) expects images \[B, H, W, C\], got input shape \[\]/,
  );
});
