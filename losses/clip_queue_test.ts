import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { queueClipLoss } from "./clip_queue.ts";
import { lossEntries } from "./entries.ts";
import { queuedPositiveTargets } from "./multi_positive.ts";
import { assertNoLeak, close, read, unitGaussian } from "./testing.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";

await tf.setBackend("cpu");

const rowsOf = (t: Tensor): number[][] => t.arraySync() as number[][];
const dot = (a: number[], b: number[]) => a.reduce((acc, v, k) => acc + v * b[k]!, 0);
const softmax = (xs: number[]) => {
  const m = Math.max(...xs), e = xs.map((x) => Math.exp(x - m)), z = e.reduce((a, b) => a + b);
  return e.map((x) => x / z);
};

/**
 * ALBEF's ITC in float64, as its code computes it (model_pretrain.py); with
 * `ids` (`[B + K]`: the batch's, then the queue's) its retrieval form
 * (model_retrieval.py: `pos_idx = eq(idx, cat([idx, idx_queue]))`, targets
 * `pos_idx / pos_idx.sum(1)`), an id < 0 matching nothing but its own row.
 */
function albef(
  x: Record<string, number[][]>,
  s: number,
  alpha: number,
  ids?: number[],
  student = false,
): number {
  const hard = (i: number, j: number, n: number) => {
    if (!ids) return j === i ? 1 : 0;
    const pos = (k: number): number => k === i || (ids[i]! >= 0 && ids[k] === ids[i]) ? 1 : 0;
    const p = Array.from({ length: n }, (_, k) => pos(k)).reduce((a, v) => a + v, 0);
    return pos(j) / p;
  };
  const direction = (q: number[][], qTeacher: number[][], keys: number[][], logitKeys = keys) => {
    let sum = 0;
    q.forEach((row, i) => {
      const logp = (() => {
        const l = logitKeys.map((k) => s * dot(row, k));
        const m = Math.max(...l), z = Math.log(l.reduce((a, v) => a + Math.exp(v - m), 0)) + m;
        return l.map((v) => v - z);
      })();
      const soft = softmax(keys.map((k) => s * dot(qTeacher[i]!, k)));
      const target = soft.map((p, j) => alpha * p + (1 - alpha) * hard(i, j, keys.length));
      sum -= target.reduce((a, t, j) => a + t * logp[j]!, 0);
    });
    return sum / q.length;
  };
  // Student batch keys: the logits against [T; Qₜ] (and [I; Qᵢ]), the targets as before.
  const i2t = direction(x.image!, x.imageT!, [...x.textT!, ...x.textQ!], [
    ...(student ? x.text! : x.textT!),
    ...x.textQ!,
  ]);
  const t2i = direction(x.text!, x.textT!, [...x.imageT!, ...x.imageQ!], [
    ...(student ? x.image! : x.imageT!),
    ...x.imageQ!,
  ]);
  return (i2t + t2i) / 2;
}

function sample(b: number, k: number, d: number, seed: number) {
  const [image, text, imageT, textT] = [0, 1, 2, 3].map((i) =>
    unitGaussian([b, d], seed + i) as Tensor2D
  );
  const [imageQ, textQ] = [4, 5].map((i) => unitGaussian([k, d], seed + i) as Tensor2D);
  return {
    image: image!,
    text: text!,
    imageT: imageT!,
    textT: textT!,
    imageQ: imageQ!,
    textQ: textQ!,
  };
}

const keysOf = (x: ReturnType<typeof sample>) => ({
  image: x.imageT,
  text: x.textT,
  imageQueue: x.imageQ,
  textQueue: x.textQ,
});

Deno.test("queueClipLoss equals ALBEF's queued ITC in float64 (α 0, 0.4, 1; odd sizes)", () => {
  for (const [b, k, d, s, alpha] of [[4, 6, 3, 5, 0.4], [1, 3, 2, 2, 0], [5, 7, 4, 14, 1]]) {
    const x = sample(b!, k!, d!, 10 * b!);
    const got = read(queueClipLoss(x.image, x.text, keysOf(x), { scale: s!, alpha: alpha! }));
    const plain = Object.fromEntries(Object.entries(x).map(([n, t]) => [n, rowsOf(t)]));
    close(got, albef(plain, s!, alpha!), 1e-5);
    // A bias moves every logit of a row alike: the targets sum to 1, so it cancels.
    close(
      read(queueClipLoss(x.image, x.text, keysOf(x), { scale: s!, alpha: alpha!, bias: -4 })),
      got,
      1e-5,
    );
    tf.dispose(Object.values(x));
  }
});

Deno.test("queueClipLoss with group ids equals ALBEF's retrieval ITC (idx_queue) in float64", () => {
  // Batch ids with a repeat and an unknown (−1); queue ids with the batch's groups, another
  // group and the queue's unfilled start (−1, which must not meet the batch's −1).
  const cases: [number, number, number[], number][] = [
    [5, 7, [3, 1, 3, -1, 0, 1, 3, -1, 9, 0, -1, 3], 0.4],
    [3, 4, [2, 2, 2, 2, -1, 5, 2], 0],
    [4, 2, [-1, -1, 7, 8, -1, 8], 1],
  ];
  for (const [b, k, ids, alpha] of cases) {
    const x = sample(b, k, 3, 5 * b + k);
    const targets = queuedPositiveTargets(tf.tensor1d(ids, "int32"), b);
    const rows = rowsOf(targets);
    rows.forEach((row) => close(row.reduce((a, v) => a + v), 1, 1e-6));
    const got = read(queueClipLoss(x.image, x.text, keysOf(x), { scale: 6, alpha, targets }));
    const plain = Object.fromEntries(Object.entries(x).map(([n, t]) => [n, rowsOf(t)]));
    close(got, albef(plain, 6, alpha, ids), 1e-5);
    tf.dispose([...Object.values(x), targets]);
  }
  // Every id unknown or distinct: the one-hot targets of the plain queued loss.
  const x = sample(3, 2, 3, 1);
  const distinct = queuedPositiveTargets(tf.tensor1d([0, -1, 2, 5, -1], "int32"), 3);
  close(
    read(queueClipLoss(x.image, x.text, keysOf(x), { scale: 4, alpha: 0.4, targets: distinct })),
    read(queueClipLoss(x.image, x.text, keysOf(x), { scale: 4, alpha: 0.4 })),
    1e-6,
  );
  assert.throws(
    () =>
      queueClipLoss(x.image, x.text, keysOf(x), {
        scale: 1,
        alpha: 0,
        targets: tf.zeros([3, 4]) as Tensor2D,
      }),
    /targets \[3, 4\] \(\[B, B \+ K\]\)/,
  );
  assert.throws(() => queuedPositiveTargets(tf.tensor1d([1, 2]), 1), /int32 ids \[B \+ K\]/);
  tf.dispose([...Object.values(x), distinct]);
});

Deno.test("queueClipLoss with the students' batch keys: float64 reference and gradients", async () => {
  for (const [b, k, alpha] of [[4, 6, 0.4], [3, 2, 0], [5, 3, 1]]) {
    const x = sample(b!, k!, 3, 3 * b! + k!);
    const options = { scale: 5, alpha: alpha!, batchKeys: "student" as const };
    const got = read(queueClipLoss(x.image, x.text, keysOf(x), options));
    const plain = Object.fromEntries(Object.entries(x).map(([n, t]) => [n, rowsOf(t)]));
    close(got, albef(plain, 5, alpha!, undefined, true), 1e-5);
    tf.dispose(Object.values(x));
  }
  // The gradient reaches each student side as query and as key; still none to the teachers.
  const x = sample(3, 4, 3, 8);
  const keys = keysOf(x);
  const f = (i: Tensor, t: Tensor) =>
    queueClipLoss(i as Tensor2D, t as Tensor2D, keys, {
      scale: 3,
      alpha: 0.4,
      batchKeys: "student",
    });
  await assertGradients(f, [x.image, x.text]);
  const [gT] = tf.grads((t: Tensor) =>
    queueClipLoss(x.image, x.text, { ...keys, text: t as Tensor2D }, {
      scale: 3,
      alpha: 0.4,
      batchKeys: "student",
    })
  )([x.textT]);
  // The teacher's text features set only the (constant) soft targets.
  assert.ok(gT!.dataSync().every((v) => v === 0), "no gradient to the teachers");
  tf.dispose([...Object.values(x), gT!]);
});

Deno.test("queueClipLoss gradients: finite differences for the queries and scale, none for the keys", async () => {
  const x = sample(3, 4, 3, 7);
  const keys = keysOf(x);
  const scale = tf.scalar(3);
  const f = (alpha: number) => (i: Tensor, t: Tensor, s: Tensor) =>
    queueClipLoss(i as Tensor2D, t as Tensor2D, keys, { scale: s as Scalar, alpha });
  await assertGradients((i, t) => f(0.4)(i, t, scale), [x.image, x.text]);
  // The targets hold s fixed (ALBEF computes them without gradient), so the scale's gradient
  // is checked where they do not depend on it.
  await assertGradients(f(0), [x.image, x.text, scale]);
  assertNoLeak(f(0.4), [x.image, x.text, scale]);
  // With group targets (a constant of the loss) too.
  const targets = queuedPositiveTargets(tf.tensor1d([1, 0, 1, 1, -1, 0, 2], "int32"), 3);
  await assertGradients(
    (i, t, s) =>
      queueClipLoss(i as Tensor2D, t as Tensor2D, keys, { scale: s as Scalar, alpha: 0, targets }),
    [x.image, x.text, scale],
  );
  targets.dispose();
  const grads = tf.grads((a, b, c, d) =>
    queueClipLoss(x.image, x.text, {
      image: a as Tensor2D,
      text: b as Tensor2D,
      imageQueue: c as Tensor2D,
      textQueue: d as Tensor2D,
    }, { scale: 3, alpha: 0.4 })
  )([x.imageT, x.textT, x.imageQ, x.textQ]);
  for (const g of grads) assert.ok(g.dataSync().every((v) => v === 0), "no gradient to the keys");
  assert.throws(
    () =>
      queueClipLoss(x.image, x.text, {
        ...keys,
        textQueue: x.imageT.slice(0, 1).reshape([3, 1]) as Tensor2D,
      }, { scale: 1, alpha: 0 }),
    /text_queue \[3, 1\]/,
  );
  tf.dispose([...Object.values(x), scale, ...grads]);
});

const clip = lossEntries.find((e) => e.kind === "clip")!;
const build = (params: Record<string, unknown>) => clip.create(clip.schema.parse(params));
const ctx = { training: true, step: 0, seed: 0 };

Deno.test("clip with image_queue and text_queue: the queued loss per view, and its errors", () => {
  const x = sample(4, 8, 5, 21);
  const views = tf.stack([x.image, unitGaussian([4, 5], 99)]) as tf.Tensor3D;
  const term = build({ distill: 0.4, scale: 10 });
  const inputs = {
    image: views,
    text: x.text,
    image_teacher: x.imageT,
    text_teacher: x.textT,
    image_queue: x.imageQ,
    text_queue: x.textQ,
  };
  const v1 = tf.tidy(() => tf.squeeze(tf.slice(views, [1, 0, 0], [1, -1, -1]), [0]) as Tensor2D);
  const per = (image: Tensor2D) =>
    read(queueClipLoss(image, x.text, keysOf(x), { scale: 10, alpha: 0.4 }));
  close(read(term.fn(inputs, ctx)), (per(x.image) + per(v1)) / 2, 1e-5);
  // Without distillation the teachers are the keys: MoCo-style CLIP.
  const moco = read(build({ scale: 10 }).fn({ ...inputs, image: x.image }, ctx));
  close(moco, read(queueClipLoss(x.image, x.text, keysOf(x), { scale: 10, alpha: 0 })), 1e-5);
  assert.throws(
    () => term.fn({ ...inputs, text_queue: undefined as never }, ctx),
    /image_queue is bound without text_queue/,
  );
  assert.throws(
    () => term.fn({ ...inputs, image_teacher: undefined as never }, ctx),
    /image_queue and text_queue are keys beside the teachers' features.*bind image_teacher and text_teacher/,
  );
  // A group_queue node's ids: the batch's 4, then the queue's 8.
  const ids = tf.tensor1d([2, 0, 2, -1, 0, 2, -1, -1, 5, 2, 0, -1], "int32");
  const targets = queuedPositiveTargets(ids, 4);
  close(
    read(term.fn({ ...inputs, image: x.image, groups: ids }, ctx)),
    read(queueClipLoss(x.image, x.text, keysOf(x), { scale: 10, alpha: 0.4, targets })),
    1e-5,
  );
  assert.throws(
    () => term.fn({ ...inputs, groups: ["a", "b", "c", "d"] }, ctx),
    /with image_queue\/text_queue, input "groups" must be int32 ids \[4 \+ 8\].*bind it to a group_queue node \(size 8/,
  );
  assert.throws(
    () => term.fn({ ...inputs, groups: ids, image_teacher: tf.stack([x.imageT, x.imageT]) }, ctx),
    /groups with queues needs one teacher row per sample: image_teacher \[2,4,5\] has 2 views/,
  );
  assert.throws(
    () => term.fn({ ...inputs, groups: ids, text_queue: x.textQ.slice(0, 6) }, ctx),
    /targets \[4, 12\]/,
  );
  // queue_keys: student — the queued loss with the students' batch keys; refused without queues.
  close(
    read(
      build({ distill: 0.4, scale: 10, queue_keys: "student" }).fn(
        { ...inputs, image: x.image },
        ctx,
      ),
    ),
    read(queueClipLoss(x.image, x.text, keysOf(x), {
      scale: 10,
      alpha: 0.4,
      batchKeys: "student",
    })),
    1e-5,
  );
  assert.throws(
    () => build({ scale: 10, queue_keys: "student" }).fn({ image: x.image, text: x.text }, ctx),
    /queue_keys: student picks the keys beside image_queue\/text_queue, which are not bound/,
  );
  // Without queues the ids of a group_queue node are refused, with the reason.
  assert.throws(
    () => build({ scale: 10 }).fn({ image: x.image, text: x.text, groups: ids }, ctx),
    /group_queue node's ids go with image_queue and text_queue bound/,
  );
  tf.dispose([ids, targets]);
  assert.ok(build({}).roles.includes("image_queue?") && build({}).roles.includes("text_queue?"));
  tf.dispose([...Object.values(x), views, v1]);
});
