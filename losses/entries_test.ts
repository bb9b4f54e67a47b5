import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { LossTerm } from "../core/components.ts";
import { Rng } from "../core/rng.ts";
import type { ForwardContext, NodeValue } from "../core/types.ts";
import { clipLoss } from "./clip.ts";
import { lossEntries } from "./entries.ts";
import { predictionLoss } from "./prediction.ts";
import { sigreg } from "./sigreg.ts";

await tf.setBackend("cpu");

const entry = (kind: string) => lossEntries.find((e) => e.kind === kind)!;
const build = (kind: string, params: unknown = {}): LossTerm =>
  entry(kind).create(entry(kind).schema.parse(params));
const ctx: ForwardContext = { training: true, step: 3, seed: 1234 };

function gaussian(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal()), shape);
}

const read = (s: tf.Scalar): number => {
  const v = s.dataSync()[0]!;
  s.dispose();
  return v;
};
const close = (a: number, b: number, tol = 1e-5) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("loss entries: kinds, roles, schema defaults and strictness", () => {
  assert.deepEqual(lossEntries.map((e) => e.kind), [
    "clip",
    "sigreg",
    "prediction",
    "siglip",
    "invariance",
    "nclip",
    "ito_fusion",
    "ntxent",
    "self_distillation",
    "contrastive4",
    "feature_separation",
    "brownian_bridge",
    "geometric_consistency",
    "cyclip",
  ]);
  for (const e of lossEntries) {
    assert.ok(e.summary.length > 0, e.kind);
    assert.equal(e.schema.safeParse({ no_such_key: 1 }).success, false, `${e.kind} is strict`);
  }
  assert.deepEqual(entry("clip").schema.parse({}), { normalize: true, scale: 1 / 0.07 });
  assert.deepEqual(entry("clip").schema.parse({ scale: "2 * 5", bias: -1 }), {
    normalize: true,
    scale: 10,
    bias: -1,
  });
  assert.deepEqual(entry("sigreg").schema.parse({}), {
    slices: 1024,
    quadrature: "code",
    pooled: false,
  });
  assert.equal(
    (entry("sigreg").schema.parse({ slices: "2 * 128" }) as { slices: number }).slices,
    256,
  );
  assert.deepEqual(entry("prediction").schema.parse({}), {});
  for (
    const [kind, bad] of [
      ["clip", { temperature: 0.07 }],
      ["clip", { normalize: "yes" }],
      ["sigreg", { quadrature: "simpson" }],
      ["sigreg", { slices: 0 }],
      ["sigreg", { slices: 2.5 }],
      ["sigreg", { pool: true }],
      ["prediction", { reduction: "sum" }],
    ] as const
  ) {
    assert.equal(
      entry(kind).schema.safeParse(bad).success,
      false,
      `${kind} ${JSON.stringify(bad)}`,
    );
  }
  assert.deepEqual(build("clip").roles, [
    "image",
    "text",
    "logit_scale?",
    "image_teacher?",
    "text_teacher?",
    "groups?",
    "image_queue?",
    "text_queue?",
  ]);
  assert.deepEqual(build("sigreg").roles, ["x[]"]);
  assert.deepEqual(build("prediction").roles, ["pred", "target"]);
});

Deno.test("clip entry: normalises, takes exp(logit_scale), averages views", () => {
  const image = gaussian([3, 5, 4], 1);
  const text = gaussian([5, 4], 2);
  const theta = tf.scalar(Math.log(4));
  const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 2, -1, true));
  const views = tf.unstack(image);
  const expected = (scale: number) =>
    views.map((v) =>
      tf.tidy(() => read(clipLoss(unit(v) as tf.Tensor2D, unit(text) as tf.Tensor2D, { scale })))
    ).reduce((a, b) => a + b) / 3;
  const { fn } = build("clip", { scale: 2 });
  close(read(fn({ image, text }, ctx)), expected(2));
  close(read(fn({ image, text, logit_scale: theta }, ctx)), expected(4));
  close(
    read(fn({ image: views[1]!, text }, ctx)),
    tf.tidy(() =>
      read(clipLoss(unit(views[1]!) as tf.Tensor2D, unit(text) as tf.Tensor2D, { scale: 2 }))
    ),
  );
  const raw = build("clip", { normalize: false, scale: 0.5 }).fn({ image: views[0]!, text }, ctx);
  close(read(raw), read(clipLoss(views[0] as tf.Tensor2D, text as tf.Tensor2D, { scale: 0.5 })));
  tf.dispose([image, text, theta, ...views]);
});

Deno.test("clip entry errors name the role, shapes and expectation", () => {
  const { fn } = build("clip");
  const [a, b, c] = [tf.zeros([4, 3]), tf.zeros([5, 3]), tf.zeros([2])];
  assert.throws(
    () => fn({ image: a, text: b }, ctx),
    /image \[4, 3\] and text \[5, 3\].*\[V, B, D\]/,
  );
  assert.throws(() => fn({ image: a, text: ["x"] }, ctx), /input "text" must be a tensor/);
  assert.throws(() => fn({ image: a, text: a, logit_scale: c }, ctx), /logit_scale.*\[2\]/);
  tf.dispose([a, b, c]);
});

Deno.test("sigreg entry stacks x[] along the view axis, seeded by ctx.seed", () => {
  const pred = gaussian([2, 16, 6], 3);
  const text = gaussian([16, 6], 4);
  const { fn } = build("sigreg", { slices: 32 });
  const stacked = tf.concat([pred, tf.expandDims(text, 0)], 0);
  close(read(fn({ x: [pred, text] }, ctx)), read(sigreg(stacked, { slices: 32, seed: ctx.seed })));
  close(read(fn({ x: text }, ctx)), read(sigreg(text, { slices: 32, seed: ctx.seed })));
  const other = read(fn({ x: [pred, text] }, { ...ctx, step: 4, seed: 99 }));
  assert.notEqual(other, read(fn({ x: [pred, text] }, ctx)), "fresh directions per seed");
  const paper = build("sigreg", { slices: 32, quadrature: "paper" }).fn({ x: [text] }, ctx);
  close(read(paper), read(sigreg(text, { slices: 32, seed: ctx.seed, quadrature: "paper" })));
  const pooled = build("sigreg", { slices: 32, pooled: true }).fn({ x: [pred, text] }, ctx);
  const flat = tf.reshape(stacked, [48, 6]);
  close(read(pooled), read(sigreg(flat, { slices: 32, seed: ctx.seed })));
  tf.dispose([pred, text, stacked, flat]);
});

Deno.test("sigreg entry rejects mismatched or malformed list items", () => {
  const { fn } = build("sigreg", { slices: 4 });
  const [a, b, c] = [tf.zeros([8, 3]), tf.zeros([9, 3]), tf.zeros([8])];
  assert.throws(() => fn({ x: [a, b] }, ctx), /x\[1\] has batch × dim 9 × 3, but x\[0\] has 8 × 3/);
  assert.throws(
    () => fn({ x: [a, c] }, ctx),
    /x\[1\] must be \[B, K\] or \[V, B, K\], got shape \[8\]/,
  );
  assert.throws(() => fn({ x: [["a", "b"]] as NodeValue[] }, ctx), /x\[0\] must be/);
  tf.dispose([a, b, c]);
});

Deno.test("prediction entry is predictionLoss of its two roles", () => {
  const pred = gaussian([2, 4, 3], 5);
  const target = gaussian([4, 3], 6);
  const { fn } = build("prediction");
  close(read(fn({ pred, target }, ctx)), read(predictionLoss(pred, target)));
  assert.throws(() => fn({ pred }, ctx), /input "target" must be a tensor, got nothing/);
  tf.dispose([pred, target]);
});

Deno.test("loss entries leave no tensors behind, forward and backward", () => {
  const image = gaussian([2, 6, 4], 7);
  const text = gaussian([6, 4], 8);
  const theta = tf.scalar(1);
  const terms = [build("clip"), build("sigreg", { slices: 8 }), build("prediction")];
  const before = tf.memory().numTensors;
  const total = (i: tf.Tensor, t: tf.Tensor, th: tf.Tensor) =>
    tf.tidy(() =>
      tf.addN([
        terms[0]!.fn({ image: i, text: t, logit_scale: th }, ctx),
        terms[1]!.fn({ x: [i, t] }, ctx),
        terms[2]!.fn({ pred: i, target: t }, ctx),
      ]) as tf.Scalar
    );
  tf.dispose(total(image, text, theta));
  const grads = tf.grads(total)([image, text, theta]);
  grads.forEach((g) => assert.ok(g.dataSync().every(Number.isFinite)));
  tf.dispose(grads);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([image, text, theta]);
});
