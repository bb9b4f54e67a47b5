import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { clipLoss } from "./clip.ts";
import { softTargetLoss } from "./clip_distill.ts";
import { lossEntries } from "./entries.ts";
import { distillWeight } from "./entry_clip.ts";
import { assertNoLeak, close, read, unitGaussian } from "./testing.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";

await tf.setBackend("cpu");

const rowsOf = (t: Tensor): number[][] => t.arraySync() as number[][];

function softmax(xs: number[]): number[] {
  const max = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

const lse = (xs: number[]) => {
  const max = Math.max(...xs);
  return max + Math.log(xs.reduce((a, x) => a + Math.exp(x - max), 0));
};

/**
 * The soft-target loss in float64, straight from ALBEF's definition: student
 * logits at scale `s`, targets from the teacher's similarities at `sTargets`.
 */
function reference(
  x: { image: number[][]; text: number[][]; imageT: number[][]; textT: number[][] },
  s: number,
  sTargets = s,
): number {
  const dot = (a: number[], b: number[]) => a.reduce((acc, v, k) => acc + v * b[k]!, 0);
  const b = x.image.length, idx = [...Array(b).keys()];
  const l = idx.map((i) => idx.map((j) => s * dot(x.image[i]!, x.text[j]!)));
  const m = idx.map((i) => idx.map((j) => sTargets * dot(x.imageT[i]!, x.textT[j]!)));
  let rows = 0, cols = 0;
  for (const i of idx) {
    const q = softmax(m[i]!);
    rows += lse(l[i]!) - idx.reduce((a, j) => a + q[j]! * l[i]![j]!, 0);
  }
  for (const j of idx) {
    const q = softmax(idx.map((i) => m[i]![j]!));
    cols += lse(idx.map((i) => l[i]![j]!)) - idx.reduce((a, i) => a + q[i]! * l[i]![j]!, 0);
  }
  return (rows / b + cols / b) / 2;
}

function sample(b: number, d: number, seed: number) {
  const [image, text, imageT, textT] = [0, 1, 2, 3].map((k) =>
    unitGaussian([b, d], seed + k) as Tensor2D
  );
  return { image: image!, text: text!, imageT: imageT!, textT: textT! };
}

Deno.test("softTargetLoss equals ALBEF's soft cross-entropy in float64 (odd sizes)", () => {
  for (const [b, d, s] of [[5, 8, 3], [1, 4, 2], [7, 3, 10]] as const) {
    const x = sample(b, d, 10 * b);
    const got = read(softTargetLoss(x.image, x.text, { image: x.imageT, text: x.textT }, s));
    const want = reference({
      image: rowsOf(x.image),
      text: rowsOf(x.text),
      imageT: rowsOf(x.imageT),
      textT: rowsOf(x.textT),
    }, s);
    close(got, want, 1e-5);
    tf.dispose(Object.values(x));
  }
});

Deno.test("softTargetLoss with one-hot teacher targets is CLIP's loss", () => {
  // Teacher rows eᵢ: its similarities are s·𝟙, at s = 40 softmax is one-hot to e⁻⁴⁰.
  const b = 4, s = 40;
  const x = sample(b, 6, 3);
  const eye = tf.oneHot(tf.range(0, b, 1, "int32"), 6).toFloat() as Tensor2D;
  const soft = read(softTargetLoss(x.image, x.text, { image: eye, text: eye }, s));
  close(soft, read(clipLoss(x.image, x.text, { scale: s })), 1e-5);
  tf.dispose([...Object.values(x), eye]);
});

Deno.test("softTargetLoss gradients: finite differences for the student, none for the teacher", async () => {
  const x = sample(5, 4, 7);
  const teacher = { image: x.imageT, text: x.textT };
  await assertGradients((i, t) => softTargetLoss(i as Tensor2D, t as Tensor2D, teacher, 3), [
    x.image,
    x.text,
  ]);
  const [gi, gt] = tf.grads((ti, tt) =>
    softTargetLoss(x.image, x.text, { image: ti as Tensor2D, text: tt as Tensor2D }, 3)
  )([x.imageT, x.textT]);
  assert.ok(gi!.dataSync().every((v) => v === 0) && gt!.dataSync().every((v) => v === 0));
  // The scale's gradient flows through the student logits only: the targets hold s constant.
  const s0 = 2.5, h = 1e-4;
  const plain = {
    image: rowsOf(x.image),
    text: rowsOf(x.text),
    imageT: rowsOf(x.imageT),
    textT: rowsOf(x.textT),
  };
  const numeric = (reference(plain, s0 + h, s0) - reference(plain, s0 - h, s0)) / (2 * h);
  const scale = tf.scalar(s0);
  const g = tf.grad((s) => softTargetLoss(x.image, x.text, teacher, s as Scalar))(scale);
  close(g.dataSync()[0]!, numeric, 1e-3);
  assertNoLeak((i, t, s) => softTargetLoss(i as Tensor2D, t as Tensor2D, teacher, s as Scalar), [
    x.image,
    x.text,
    scale,
  ]);
  tf.dispose([...Object.values(x), gi!, gt!, g, scale]);
});

Deno.test("softTargetLoss names every shape when they differ", () => {
  const x = sample(3, 4, 1);
  const other = unitGaussian([2, 4], 9) as Tensor2D;
  assert.throws(
    () => softTargetLoss(x.image, x.text, { image: other, text: x.textT }, 1),
    /image_teacher \[2,4\]/,
  );
  tf.dispose([...Object.values(x), other]);
});

const clip = lossEntries.find((e) => e.kind === "clip")!;
const build = (params: Record<string, unknown>) => clip.create(clip.schema.parse(params));

Deno.test("clip distill: (1 − α)·CLIP + α·soft per view, and its errors", () => {
  const x = sample(4, 5, 21);
  const views = tf.stack([x.image, unitGaussian([4, 5], 99)]) as tf.Tensor3D;
  const teacherViews = tf.stack([x.imageT, unitGaussian([4, 5], 98)]) as tf.Tensor3D;
  const alpha = 0.4, s = 1 / 0.07;
  const term = build({ distill: alpha });
  const ctx = { training: true, step: 0, seed: 0 };
  const one = read(term.fn({
    image: x.image,
    text: x.text,
    image_teacher: x.imageT,
    text_teacher: x.textT,
  }, ctx));
  const expect = (image: Tensor2D, imageT: Tensor2D) =>
    (1 - alpha) * read(clipLoss(image, x.text, { scale: s })) +
    alpha * read(softTargetLoss(image, x.text, { image: imageT, text: x.textT }, s));
  close(one, expect(x.image, x.imageT), 1e-5);
  const both = read(term.fn({
    image: views,
    text: x.text,
    image_teacher: teacherViews,
    text_teacher: x.textT,
  }, ctx));
  const v1 = tf.tidy(() => tf.squeeze(tf.slice(views, [1, 0, 0], [1, -1, -1]), [0]) as Tensor2D);
  const t1 = tf.tidy(() =>
    tf.squeeze(tf.slice(teacherViews, [1, 0, 0], [1, -1, -1]), [0]) as Tensor2D
  );
  close(both, (expect(x.image, x.imageT) + expect(v1, t1)) / 2, 1e-5);
  assert.throws(
    () => build({}).fn({ image: x.image, text: x.text, image_teacher: x.imageT }, ctx),
    /image_teacher bound but distill is 0/,
  );
  assert.throws(
    () => term.fn({ image: x.image, text: x.text }, ctx),
    /image_teacher/,
  );
  assert.throws(
    () =>
      term.fn({
        image: views,
        text: x.text,
        image_teacher: tf.stack([x.imageT]),
        text_teacher: x.textT,
      }, ctx),
    /other views than image/,
  );
  tf.dispose([...Object.values(x), views, teacherViews, v1, t1]);
});

Deno.test("clip distill_warmup: α ramps from 0 with the update count (ALBEF's first epoch)", () => {
  assert.equal(distillWeight(0, 0.4, 10), 0);
  close(distillWeight(5, 0.4, 10), 0.2, 1e-12);
  assert.equal(distillWeight(30, 0.4, 10), 0.4);
  assert.equal(distillWeight(0, 0.4), 0.4);
  const x = sample(4, 5, 41);
  const inputs = { image: x.image, text: x.text, image_teacher: x.imageT, text_teacher: x.textT };
  const at = (updates: number) => ({
    training: true,
    step: updates,
    seed: 0,
    progress: { updates: () => updates, total: 100 },
  });
  const ramped = build({ distill: 0.4, distill_warmup: 10 });
  const loss = (term: ReturnType<typeof build>, updates: number) =>
    read(term.fn(inputs, at(updates)));
  // At the first update the targets are CLIP's; halfway, α/2; past the ramp, α.
  close(loss(ramped, 0), read(clipLoss(x.image, x.text, { scale: 1 / 0.07 })), 1e-5);
  close(loss(ramped, 5), loss(build({ distill: 0.2 }), 5), 1e-5);
  close(loss(ramped, 12), loss(build({ distill: 0.4 }), 12), 1e-5);
  assert.throws(
    () => build({ distill_warmup: 10 }).fn({ image: x.image, text: x.text }, at(0)),
    /distill_warmup 10 ramps the distillation weight, but distill is 0/,
  );
  tf.dispose(Object.values(x));
});
