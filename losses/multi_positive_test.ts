import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { clipLoss } from "./clip.ts";
import { lossEntries } from "./entries.ts";
import {
  groupsInput,
  multiPositiveClipLoss,
  positivePairs,
  textGroupIds,
} from "./multi_positive.ts";
import { sigLipLoss } from "./siglip.ts";
import { assertNoLeak, close, read, unitGaussian } from "./testing.ts";
import type { NodeValue } from "../core/types.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D } from "../core/tensor.ts";

await tf.setBackend("cpu");

const rowsOf = (t: Tensor): number[][] => t.arraySync() as number[][];
const dot = (a: number[], b: number[]) => a.reduce((acc, v, k) => acc + v * b[k]!, 0);
const lse = (xs: number[]) => {
  const max = Math.max(...xs);
  return max + Math.log(xs.reduce((a, x) => a + Math.exp(x - max), 0));
};

/** Same group: equal ids ≥ 0, or the same sample. */
const same = (ids: number[], i: number, j: number) =>
  i === j || (ids[i]! >= 0 && ids[i] === ids[j]);

/** UniCL's loss in float64, straight from Eq. 2–3: each positive's log-softmax, averaged. */
function uniclReference(image: number[][], text: number[][], ids: number[], s: number): number {
  const b = image.length, idx = [...Array(b).keys()];
  const l = idx.map((i) => idx.map((j) => s * dot(image[i]!, text[j]!)));
  let i2t = 0, t2i = 0;
  for (const i of idx) {
    const pos = idx.filter((j) => same(ids, i, j));
    const rowLse = lse(l[i]!);
    i2t += pos.reduce((a, j) => a + rowLse - l[i]![j]!, 0) / pos.length;
    const colLse = lse(idx.map((k) => l[k]![i]!));
    t2i += pos.reduce((a, k) => a + colLse - l[k]![i]!, 0) / pos.length;
  }
  return (i2t / b + t2i / b) / 2;
}

/** SigLIP's loss in float64 with labels +1 for same-group pairs. */
function sigLipReference(
  image: number[][],
  text: number[][],
  ids: number[],
  s: number,
  bias: number,
) {
  const b = image.length, idx = [...Array(b).keys()];
  let sum = 0;
  for (const i of idx) {
    for (const j of idx) {
      const z = same(ids, i, j) ? 1 : -1;
      sum += Math.log1p(Math.exp(-z * (s * dot(image[i]!, text[j]!) + bias)));
    }
  }
  return sum / b;
}

const mask = (ids: number[]) => positivePairs(tf.tensor1d(ids, "int32") as Tensor1D);

Deno.test("textGroupIds: equal captions share the index of their first occurrence", () => {
  assert.deepEqual([...textGroupIds(["a 7", "a 3", "a 7", "b", "a 3"])], [0, 1, 0, 3, 1]);
  assert.deepEqual([...textGroupIds([])], []);
});

Deno.test("positivePairs: same id ≥ 0 and the diagonal; unknown ids (< 0) stand alone", () => {
  const m = mask([2, -1, 2, -1, 5]);
  assert.deepEqual(rowsOf(m), [
    [1, 0, 1, 0, 0],
    [0, 1, 0, 0, 0],
    [1, 0, 1, 0, 0],
    [0, 0, 0, 1, 0],
    [0, 0, 0, 0, 1],
  ]);
  assert.equal(m.dtype, "float32");
  m.dispose();
});

Deno.test("multiPositiveClipLoss equals UniCL's float64 loss (odd sizes, unknown ids)", () => {
  const cases: [number[], number][] = [
    [[0, 1, 0, 2, 1, 0, -1], 3],
    [[4], 2],
    [[-1, -1, 3, 3, 3], 12],
    [[1, 1, 1], 0.5],
  ];
  for (const [ids, s] of cases) {
    const b = ids.length;
    const image = unitGaussian([b, 5], b) as Tensor2D,
      text = unitGaussian([b, 5], b + 50) as Tensor2D;
    const m = mask(ids);
    const got = read(multiPositiveClipLoss(image, text, m, { scale: s }));
    close(got, uniclReference(rowsOf(image), rowsOf(text), ids, s), 1e-5);
    // A bias moves every logit alike: the targets sum to one per row, so it cancels.
    close(read(multiPositiveClipLoss(image, text, m, { scale: s, bias: -3 })), got, 1e-5);
    tf.dispose([image, text, m]);
  }
});

Deno.test("multiPositiveClipLoss with singleton groups is CLIP's loss", () => {
  const image = unitGaussian([6, 4], 1) as Tensor2D, text = unitGaussian([6, 4], 2) as Tensor2D;
  const m = mask([0, 1, 2, 3, -1, 5]);
  const want = read(clipLoss(image, text, { scale: 7 }));
  close(read(multiPositiveClipLoss(image, text, m, { scale: 7 })), want, 1e-5);
  tf.dispose([image, text, m]);
});

Deno.test("multiPositiveClipLoss gradients match finite differences (embeddings and scale)", async () => {
  const image = unitGaussian([5, 3], 7), text = unitGaussian([5, 3], 8);
  const scale = tf.scalar(2.5);
  const m = mask([0, 1, 0, 1, 2]);
  const f = (i: Tensor, t: Tensor, s: Tensor) =>
    multiPositiveClipLoss(i as Tensor2D, t as Tensor2D, m, { scale: s as Scalar });
  await assertGradients(f, [image, text, scale]);
  assertNoLeak(f, [image, text, scale]);
  assert.throws(
    () => multiPositiveClipLoss(image as Tensor2D, text as Tensor2D, mask([0, 1]), { scale: 1 }),
    /positives \[2, 2\]/,
  );
  tf.dispose([image, text, scale, m]);
});

Deno.test("sigLipLoss with positives: labels +1 for every same-group pair", async () => {
  const ids = [3, 3, 0, -1, 0, 3];
  const image = unitGaussian([6, 4], 3) as Tensor2D, text = unitGaussian([6, 4], 4) as Tensor2D;
  const m = mask(ids);
  const got = read(sigLipLoss(image, text, { scale: 10, bias: -10, positives: m }));
  close(got, sigLipReference(rowsOf(image), rowsOf(text), ids, 10, -10), 1e-4);
  const alone = mask([0, 1, 2, 3, 4, 5]);
  close(
    read(sigLipLoss(image, text, { scale: 4, bias: -2, positives: alone })),
    read(sigLipLoss(image, text, { scale: 4, bias: -2 })),
    1e-5,
  );
  await assertGradients(
    (i, t) => sigLipLoss(i as Tensor2D, t as Tensor2D, { scale: 3, bias: -1, positives: m }),
    [image, text],
  );
  tf.dispose([image, text, m, alone]);
});

Deno.test("groupsInput: labels, captions, unbound, and what it refuses", () => {
  const labels = tf.tensor1d([1, 2, 1], "int32");
  const fromLabels = groupsInput("clip", { groups: labels }, 3)!;
  const fromTexts = groupsInput("clip", { groups: ["x", "y", "x"] }, 3)!;
  assert.deepEqual(rowsOf(fromLabels), rowsOf(fromTexts));
  assert.equal(groupsInput("clip", {}, 3), undefined);
  assert.throws(
    () => groupsInput("siglip", { groups: ["x", "y"] }, 3),
    /loss siglip: input "groups" has 2 texts; expected int32 ids \[3\] \(batch\.label\) or 3 strings/,
  );
  const wide = tf.zeros([3, 2]);
  assert.throws(
    () => groupsInput("clip", { groups: wide }, 3),
    /input "groups" must be int32 ids \[3\].*got shape \[3, 2\] float32/,
  );
  const floats = tf.tensor1d([0.3, 0.7, 1]);
  assert.throws(() => groupsInput("clip", { groups: floats }, 3), /got shape \[3\] float32/);
  floats.dispose();
  tf.dispose([labels, fromLabels, fromTexts, wide]);
});

const entry = (kind: string) => lossEntries.find((e) => e.kind === kind)!;
const ctx = { training: true, step: 0, seed: 0 };

Deno.test("clip and siglip entries take groups for every view", () => {
  const image = unitGaussian([2, 4, 3], 11), text = unitGaussian([4, 3], 12);
  const captions: NodeValue = ["seven", "one", "seven", "two"];
  const ids = [0, 1, 0, 3];
  const v = (k: number) =>
    rowsOf(tf.tidy(() => tf.squeeze(tf.slice(image, [k, 0, 0], [1, -1, -1]))));
  const n = (rows: number[][]) => rows.map((r) => r.map((x) => x / Math.hypot(...r)));
  const clip = entry("clip"), siglip = entry("siglip");
  const clipTerm = clip.create(clip.schema.parse({ scale: 5 }));
  const got = read(clipTerm.fn({ image, text, groups: captions }, ctx));
  const want = [0, 1].map((k) => uniclReference(n(v(k)), n(rowsOf(text)), ids, 5));
  close(got, (want[0]! + want[1]!) / 2, 1e-5);
  const sigTerm = siglip.create(siglip.schema.parse({}));
  const sig = read(sigTerm.fn({ image, text, groups: captions }, ctx));
  const sigWant = [0, 1].map((k) => sigLipReference(n(v(k)), n(rowsOf(text)), ids, 10, -10));
  close(sig, (sigWant[0]! + sigWant[1]!) / 2, 1e-4);
  assert.ok(clip.create(clip.schema.parse({})).roles.includes("groups?"));
  assert.ok(siglip.create(siglip.schema.parse({})).roles.includes("groups?"));
  tf.dispose([image, text]);
});

Deno.test("positivePairs is a constant: ids computed from trained values pass no gradient", () => {
  const scores = tf.variable(tf.tensor2d([[1, 0], [0, 1], [2, 1]]));
  const image = unitGaussian([3, 4], 5) as Tensor2D, text = unitGaussian([3, 4], 6) as Tensor2D;
  // argMax of a variable: Equal has no gradient, so the tape must not reach it.
  const { value, grads } = tf.variableGrads(() =>
    tf.add(
      multiPositiveClipLoss(image, text, positivePairs(tf.argMax(scores, 1) as Tensor1D), {
        scale: 2,
      }),
      tf.mul(tf.sum(scores), 0),
    ) as Scalar
  );
  assert.ok(Number.isFinite(read(value)));
  assert.deepEqual([...grads[scores.name]!.dataSync()], [0, 0, 0, 0, 0, 0]);
  assert.throws(() => positivePairs(tf.tensor1d([1, 2]) as Tensor1D), /int32 group ids \[B\]/);
  tf.dispose([scores, image, text, value, ...Object.values(grads)]);
});

Deno.test("exact duplicate captions embedded alike: caption groups leave CLIP's loss and gradients as they were", () => {
  // A deterministic text tower maps equal captions to equal rows; softmax then splits the
  // positive's mass among them either way, so UniCL by caption is CLIP's loss on such batches.
  const captions = ["a", "b", "a", "c", "b", "a"];
  const ids = [...textGroupIds(captions)];
  const rows = unitGaussian([3, 4], 31);
  const text = tf.gather(rows, [0, 1, 0, 2, 1, 0]) as Tensor2D;
  const image = unitGaussian([6, 4], 32) as Tensor2D;
  const m = mask(ids);
  const both = (f: (i: Tensor2D, t: Tensor2D) => Scalar) => {
    const { value, grads } = tf.valueAndGrads((i, t) => f(i as Tensor2D, t as Tensor2D))([
      image,
      text,
    ]);
    // The tower's parameters see the sum of the gradients of equal captions.
    const perCaption = tf.unsortedSegmentSum(grads[1]!, tf.tensor1d(ids, "int32"), 6);
    return { value: read(value), image: grads[0]!.dataSync(), text: perCaption.dataSync() };
  };
  const plain = both((i, t) => clipLoss(i, t, { scale: 4 }));
  const grouped = both((i, t) => multiPositiveClipLoss(i, t, m, { scale: 4 }));
  close(grouped.value, plain.value, 1e-5);
  grouped.image.forEach((g, k) => close(g, plain.image[k]!, 1e-5));
  grouped.text.forEach((g, k) => close(g, plain.text[k]!, 1e-5));
  // SigLIP's pairwise labels do tell them apart: a duplicate is a −1 there.
  const sig = read(sigLipLoss(image, text, { scale: 4, bias: -2 }));
  const sigGrouped = read(sigLipLoss(image, text, { scale: 4, bias: -2, positives: m }));
  assert.ok(Math.abs(sig - sigGrouped) > 0.1, `${sig} vs ${sigGrouped}`);
  tf.dispose([rows, text, image, m]);
});

Deno.test("contrastive4 takes groups: UniCL's targets in all four terms (V2V, T2T: SupCon)", () => {
  const term = entry("contrastive4").create(entry("contrastive4").schema.parse({ scale: 3 }));
  const image = unitGaussian([2, 5, 4], 61), text = unitGaussian([5, 4], 62);
  const n = (t: Tensor) => tf.div(t, tf.norm(t, 2, -1, true));
  const ids = [0, 1, 0, -1, 1];
  const m = mask(ids);
  const [v, va] = [0, 1].map((k) =>
    n(tf.squeeze(tf.slice(image, [k, 0, 0], [1, -1, -1]), [0])) as Tensor2D
  );
  const t = n(text) as Tensor2D;
  const u = (a: Tensor2D, b: Tensor2D) => read(multiPositiveClipLoss(a, b, m, { scale: 3 }));
  const want = (2 * u(v!, t) + u(v!, va!) + u(t, t)) / 4;
  close(read(term.fn({ image, text, groups: tf.tensor1d(ids, "int32") }, ctx)), want, 1e-5);
  tf.dispose([image, text, m, v!, va!, t]);
});
