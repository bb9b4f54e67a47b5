import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { invarianceLoss } from "./lejepa.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read } from "./testing.ts";

await tf.setBackend("cpu");

Deno.test("invarianceLoss: hand-computed case (V = 3, V_g = 2, B = 1, K = 2)", () => {
  // μ = mean of the two global views = [2, 3]; differences [−1, −1], [1, 1], [3, 6];
  // squares sum to 1 + 1 + 1 + 1 + 9 + 36 = 49 over V·B·K = 6 entries.
  const z = tf.tensor3d([[[1, 2]], [[3, 4]], [[5, 9]]]);
  close(read(invarianceLoss(z, { global: 2 })), 49 / 6, 1e-6);
  // All three views global: μ = [3, 5]; squares 4, 9, 0, 1, 4, 16 → 34 / 6.
  close(read(invarianceLoss(z)), 34 / 6, 1e-6);
  close(read(invarianceLoss(z, { global: 3 })), 34 / 6, 1e-6);
  tf.dispose(z);
});

Deno.test("invarianceLoss is 0 when all views agree and grows with the spread", () => {
  const base = gaussian([1, 8, 4], 1);
  const same = tf.tile(base, [4, 1, 1]);
  close(read(invarianceLoss(same, { global: 2 })), 0, 1e-7);
  const noise = gaussian([4, 8, 4], 2);
  const small = tf.add(same, tf.mul(noise, 0.1));
  const large = tf.add(same, tf.mul(noise, 1));
  const [a, b] = [
    read(invarianceLoss(small, { global: 2 })),
    read(invarianceLoss(large, { global: 2 })),
  ];
  close(b / a, 100, 1e-3); // quadratic in the spread
  tf.dispose([base, same, noise, small, large]);
});

Deno.test("invarianceLoss is invariant to a permutation of the batch", () => {
  const z = gaussian([3, 6, 4], 3);
  const pz = permuteBatch(z, [5, 2, 0, 4, 1, 3], 1);
  close(read(invarianceLoss(pz, { global: 2 })), read(invarianceLoss(z, { global: 2 })));
  tf.dispose([z, pz]);
});

Deno.test("invarianceLoss gradient agrees with finite differences (centre not stopped)", async () => {
  const z = gaussian([3, 2, 3], 4);
  await assertGradients((x) => invarianceLoss(x!, { global: 2 }), [z]);
  // Finite differences move the centre too, so agreement on the global views' entries
  // shows the gradient flows through μ (no stop-gradient). Translation invariance: shifting
  // every view by the same vector leaves the loss unchanged, so the gradient sums to 0.
  const g = tf.grad((x: tf.Tensor) => invarianceLoss(x, { global: 2 }))(z);
  close(read(g.sum()), 0, 1e-5);
  tf.dispose([z, g]);
});

Deno.test("invarianceLoss rejects bad shapes and global counts, naming the values", () => {
  const [flat, z] = [tf.zeros([4, 3]), tf.zeros([2, 4, 3])];
  assert.throws(() => invarianceLoss(flat), /\[V, B, K\].*got \[4, 3\]/);
  assert.throws(
    () => invarianceLoss(z, { global: 3 }),
    /global must be an integer in \[1, V = 2\].*got 3/,
  );
  assert.throws(() => invarianceLoss(z, { global: 0 }), /got 0/);
  tf.dispose([flat, z]);
});

Deno.test("invarianceLoss leaves no tensors behind", () => {
  const z = gaussian([4, 5, 3], 5);
  assertNoLeak((x) => invarianceLoss(x!, { global: 2 }), [z]);
  z.dispose();
});
