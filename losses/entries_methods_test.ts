import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { LossTerm } from "../core/components.ts";
import type { ForwardContext } from "../core/types.ts";
import { l2Normalize } from "./common.ts";
import { methodLossEntries, warmedTemperature } from "./entries_methods.ts";
import { selfDistillation } from "./self_distillation.ts";
import { itoFusionLoss } from "./ito_fusion.ts";
import { ntXentLoss } from "./ntxent.ts";
import { invarianceLoss } from "./lejepa.ts";
import { nclipLoss } from "./nclip.ts";
import { sigLipLoss } from "./siglip.ts";
import { close, gaussian, read } from "./testing.ts";

await tf.setBackend("cpu");

const entry = (kind: string) => methodLossEntries.find((e) => e.kind === kind)!;
const parse = (kind: string, params: unknown = {}) => entry(kind).schema.parse(params);
const build = (kind: string, params: unknown = {}): LossTerm =>
  entry(kind).create(parse(kind, params));
const ctx: ForwardContext = { training: true, step: 0, seed: 1 };
const as2d = (t: tf.Tensor) => t as tf.Tensor2D;
const view = (x: tf.Tensor, v: number) => tf.squeeze(tf.slice(x, [v, 0, 0], [1, -1, -1]), [0]);

Deno.test("method entries: kinds, roles, defaults and strict schemas", () => {
  assert.deepEqual(methodLossEntries.map((e) => e.kind), [
    "siglip",
    "invariance",
    "nclip",
    "ito_fusion",
    "ntxent",
    "self_distillation",
  ]);
  assert.deepEqual(parse("self_distillation"), {
    student_temperature: 0.1,
    teacher_temperature: 0.04,
  });
  assert.deepEqual(parse("siglip"), { normalize: true, scale: 10, bias: -10 });
  assert.deepEqual(parse("invariance"), {});
  assert.deepEqual(parse("invariance", { global: "1 + 1" }), { global: 2 });
  assert.deepEqual(parse("nclip"), {
    temperature: 0.1,
    target_temperature: 0.1,
    stop_gradient: false,
    cross_weight: 1,
    sharpness_weight: 1,
    smoothness_weight: 1,
  });
  assert.deepEqual(parse("ito_fusion"), { normalize: true, scale: 1 / 0.07 });
  assert.deepEqual(parse("ntxent"), { normalize: true, temperature: 0.1 });
  for (
    const [kind, bad] of [
      ["siglip", { temperature: 1 }],
      ["siglip", { bias: "minus ten" }],
      ["invariance", { global: 0 }],
      ["invariance", { global: 1.5 }],
      ["nclip", { temperature: 0 }],
      ["nclip", { smoothness_weight: -1 }],
      ["nclip", { stop_gradient: "yes" }],
      ["nclip", { prototypes: 10 }],
      ["ito_fusion", { lambda: 2 }],
      ["ntxent", { temperature: 0 }],
      ["ntxent", { scale: 10 }],
      ["self_distillation", { teacher_temperature: 0 }],
      ["self_distillation", { temperature: 0.1 }],
    ] as const
  ) {
    assert.equal(
      entry(kind).schema.safeParse(bad).success,
      false,
      `${kind} ${JSON.stringify(bad)}`,
    );
  }
  assert.deepEqual(build("siglip").roles, [
    "image",
    "text",
    "logit_scale?",
    "logit_bias?",
    "groups?",
  ]);
  assert.deepEqual(build("invariance").roles, ["x"]);
  assert.deepEqual(build("nclip").roles, ["image", "text"]);
  assert.deepEqual(build("ito_fusion").roles, ["fused", "logit_scale?"]);
  assert.deepEqual(build("ntxent").roles, ["views", "logit_scale?"]);
});

Deno.test("siglip entry: normalises, exp(logit_scale), logit_bias as is, mean over views", () => {
  const [image, text] = [gaussian([3, 5, 4], 1), gaussian([5, 4], 2)];
  const [theta, bias] = [tf.scalar(Math.log(4)), tf.scalar(-2)];
  const unitText = as2d(l2Normalize(text));
  const expected = (scale: number, b: number) =>
    [0, 1, 2].map((v) =>
      tf.tidy(() =>
        read(sigLipLoss(as2d(l2Normalize(view(image, v))), unitText, { scale, bias: b }))
      )
    ).reduce((x, y) => x + y) / 3;
  const { fn } = build("siglip");
  close(read(fn({ image, text }, ctx)), expected(10, -10));
  close(read(fn({ image, text, logit_scale: theta, logit_bias: bias }, ctx)), expected(4, -2));
  close(read(build("siglip", { scale: 3, bias: 1 }).fn({ image, text }, ctx)), expected(3, 1));
  const single = tf.tidy(() => view(image, 0));
  const raw = build("siglip", { normalize: false }).fn({ image: single, text }, ctx);
  close(read(raw), read(sigLipLoss(as2d(single), as2d(text), { scale: 10, bias: -10 })));
  tf.dispose([image, text, theta, bias, unitText, single]);
});

Deno.test("siglip entry: gradients reach logit_scale and logit_bias", () => {
  const [image, text] = [gaussian([6, 256], 3), gaussian([6, 256], 4)];
  const { fn } = build("siglip");
  const point = [tf.scalar(Math.log(10)), tf.scalar(-10)];
  const grads = tf.grads((th: tf.Tensor, b: tf.Tensor) =>
    fn({ image, text, logit_scale: th, logit_bias: b }, ctx)
  )(point);
  // At b = −10 raising b lowers the B positives' cost (≈ −1 each, / B) far more than it
  // raises the B² − B negatives' (≈ e⁻¹⁰ each, / B), so ∂L/∂b ≈ −1.
  const db = grads[1]!.dataSync()[0]!;
  assert.ok(db < -0.9 && db > -1, `∂L/∂b = ${db}`);
  assert.ok(Number.isFinite(grads[0]!.dataSync()[0]!));
  tf.dispose([image, text, ...point, ...grads]);
});

Deno.test("invariance and ito_fusion entries are their pure functions", () => {
  const z = gaussian([4, 3, 5], 5);
  close(
    read(build("invariance", { global: 2 }).fn({ x: z }, ctx)),
    read(invarianceLoss(z, { global: 2 })),
  );
  close(read(build("invariance").fn({ x: z }, ctx)), read(invarianceLoss(z)));
  const fused = gaussian([2, 6, 4], 6);
  const theta = tf.scalar(1.5);
  const unit = l2Normalize(fused);
  const [s1, s2] = [as2d(view(unit, 0)), as2d(view(unit, 1))];
  close(
    read(build("ito_fusion").fn({ fused }, ctx)),
    read(itoFusionLoss(s1, s2, { scale: 1 / 0.07 })),
  );
  close(
    read(build("ito_fusion").fn({ fused, logit_scale: theta }, ctx)),
    read(itoFusionLoss(s1, s2, { scale: Math.exp(1.5) })),
  );
  tf.dispose([z, fused, theta, unit, s1, s2]);
});

Deno.test("ntxent entry: normalised views at 1/τ, or exp θ of a bound logit_scale", () => {
  const views = gaussian([2, 6, 4], 9);
  const theta = tf.scalar(0.5);
  const unit = l2Normalize(views);
  const [z1, z2] = [as2d(view(unit, 0)), as2d(view(unit, 1))];
  close(read(build("ntxent").fn({ views }, ctx)), read(ntXentLoss(z1, z2, { scale: 10 })));
  close(
    read(build("ntxent", { temperature: 0.5 }).fn({ views }, ctx)),
    read(ntXentLoss(z1, z2, { scale: 2 })),
  );
  close(
    read(build("ntxent").fn({ views, logit_scale: theta }, ctx)),
    read(ntXentLoss(z1, z2, { scale: Math.exp(0.5) })),
  );
  const [v1, v2] = [as2d(view(views, 0)), as2d(view(views, 1))];
  close(
    read(build("ntxent", { normalize: false }).fn({ views }, ctx)),
    read(ntXentLoss(v1, v2, { scale: 10 })),
  );
  tf.dispose([views, theta, unit, z1, z2, v1, v2]);
});

Deno.test("ntxent entry refuses anything but two views, naming the shape and the fix", () => {
  for (const shape of [[3, 4, 5], [4, 5]]) {
    const x = tf.zeros(shape);
    assert.throws(
      () => build("ntxent").fn({ views: x }, ctx),
      new RegExp(`two views' embeddings \\[2, B, D\\], got \\[${shape.join(", ")}\\].*count: 2`),
    );
    x.dispose();
  }
});

Deno.test("nclip entry maps snake_case params and averages image views", () => {
  const [image, text] = [gaussian([2, 4, 16], 7), gaussian([4, 16], 8)];
  const params = {
    temperature: 0.5,
    target_temperature: 0.25,
    stop_gradient: true,
    smoothness_weight: 2,
  };
  const options = {
    temperature: 0.5,
    targetTemperature: 0.25,
    stopGradient: true,
    smoothnessWeight: 2,
  };
  const expected = [0, 1].map((v) =>
    tf.tidy(() => read(nclipLoss(as2d(view(image, v)), as2d(text), options)))
  );
  close(read(build("nclip", params).fn({ image, text }, ctx)), (expected[0]! + expected[1]!) / 2);
  tf.dispose([image, text]);
});

Deno.test("method entries: errors name the role, the shapes and the expectation", () => {
  const [a, b, s] = [tf.zeros([4, 3]), tf.zeros([5, 3]), tf.zeros([2])];
  assert.throws(
    () => build("siglip").fn({ image: a, text: b }, ctx),
    /image \[4, 3\] and text \[5, 3\].*\[V, B, D\]/,
  );
  assert.throws(
    () => build("siglip").fn({ image: a, text: a, logit_bias: s }, ctx),
    /"logit_bias" must be a scalar.*\[2\]/,
  );
  assert.throws(
    () => build("siglip").fn({ image: a }, ctx),
    /input "text" must be a tensor, got nothing/,
  );
  assert.throws(
    () => build("invariance").fn({ x: a }, ctx),
    /"x" must be views \[V, B, K\].*got \[4, 3\]/,
  );
  assert.throws(
    () => build("nclip").fn({ image: a, text: b }, ctx),
    /image \[4, 3\] and text \[5, 3\].*\[B, Kp\]/,
  );
  assert.throws(
    () => build("ito_fusion").fn({ fused: a }, ctx),
    /"fused" must be .*\[2, B, D\], got \[4, 3\]/,
  );
  tf.dispose([a, b, s]);
});

Deno.test("method entries leave no tensors behind, forward and backward", () => {
  const [image, text, theta, bias] = [
    gaussian([2, 6, 4], 9),
    gaussian([6, 4], 10),
    tf.scalar(1),
    tf.scalar(-3),
  ];
  const terms = [
    build("siglip"),
    build("invariance"),
    build("nclip"),
    build("ito_fusion"),
    build("ntxent"),
  ];
  const total = (i: tf.Tensor, t: tf.Tensor, th: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() =>
      tf.addN([
        terms[0]!.fn({ image: i, text: t, logit_scale: th, logit_bias: b }, ctx),
        terms[1]!.fn({ x: i }, ctx),
        terms[2]!.fn({ image: i, text: t }, ctx),
        terms[3]!.fn({ fused: i, logit_scale: th }, ctx),
        terms[4]!.fn({ views: i, logit_scale: th }, ctx),
      ]) as tf.Scalar
    );
  const before = tf.memory().numTensors;
  tf.dispose(total(image, text, theta, bias));
  const grads = tf.grads(total)([image, text, theta, bias]);
  grads.forEach((g) => assert.ok(g.dataSync().every(Number.isFinite)));
  tf.dispose(grads);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([image, text, theta, bias]);
});

Deno.test("self_distillation entry: DINO's teacher-temperature warm-up follows the update count", () => {
  assert.equal(warmedTemperature(0, 0.07), 0.07);
  assert.equal(warmedTemperature(0, 0.07, { from: 0.04, steps: 30 }), 0.04);
  assert.ok(Math.abs(warmedTemperature(15, 0.07, { from: 0.04, steps: 30 }) - 0.055) < 1e-12);
  assert.equal(warmedTemperature(90, 0.07, { from: 0.04, steps: 30 }), 0.07);
  const student = tf.randomNormal([3, 4, 6], 0, 1, "float32", 1);
  const teacher = tf.randomNormal([2, 4, 6], 0, 1, "float32", 2);
  const term = build("self_distillation", {
    teacher_temperature: 0.07,
    teacher_warmup: { from: 0.04, steps: 30 },
  });
  for (const updates of [0, 15, 45]) {
    const progress = { updates: () => updates, total: 100 };
    const got = term.fn({ student, teacher }, { ...ctx, progress }) as tf.Scalar;
    const want = selfDistillation(student, teacher, {
      studentTemperature: 0.1,
      teacherTemperature: warmedTemperature(updates, 0.07, { from: 0.04, steps: 30 }),
    });
    assert.ok(Math.abs(got.dataSync()[0]! - want.dataSync()[0]!) < 1e-5, `${updates}`);
    tf.dispose([got, want]);
  }
  // Outside a training step (dry runs): the starting temperature.
  const dry = term.fn({ student, teacher }, ctx) as tf.Scalar;
  const first = selfDistillation(student, teacher, {
    studentTemperature: 0.1,
    teacherTemperature: 0.04,
  });
  assert.ok(Math.abs(dry.dataSync()[0]! - first.dataSync()[0]!) < 1e-5);
  tf.dispose([dry, first, student, teacher]);
});
