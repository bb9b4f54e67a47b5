import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { itoFusionLoss } from "./ito_fusion.ts";
import { ntXentLoss } from "./ntxent.ts";
import { close, gaussian, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

const as2d = (t: tf.Tensor) => t as tf.Tensor2D;

/**
 * SLIP's `SIMCLRLoss` (github.com/facebookresearch/SLIP, `losses.py`), transcribed in
 * float64 without the stacked Gram matrix: per direction a → b, row i's logits are
 * `[q_a·q_bᵀ / τ, q_a·q_aᵀ / τ with the diagonal at −∞]`, its label the i-th column;
 * the loss is the mean of the two directions' mean cross-entropies.
 */
function slipSimclr(qa: number[][], qb: number[][], tau: number): number {
  const dot = (x: number[], y: number[]) => x.reduce((s, v, k) => s + v * y[k]!, 0);
  const direction = (p: number[][], q: number[][]) => {
    let total = 0;
    for (let i = 0; i < p.length; i++) {
      const ab = q.map((row) => dot(p[i]!, row) / tau);
      const aa = p.map((row, j) => (i === j ? -Infinity : dot(p[i]!, row) / tau));
      const all = [...ab, ...aa];
      const max = Math.max(...all);
      const lse = max + Math.log(all.reduce((s, v) => s + Math.exp(v - max), 0));
      total += lse - ab[i]!;
    }
    return total / p.length;
  };
  return (direction(qa, qb) + direction(qb, qa)) / 2;
}

const rows = (t: tf.Tensor) => t.arraySync() as number[][];

Deno.test("ntXentLoss equals SLIP's SIMCLRLoss transcribed in float64 (τ 0.1 and 0.5, odd B)", () => {
  for (const [b, d, tau, seed] of [[7, 5, 0.1, 1], [16, 12, 0.5, 3], [1, 3, 0.1, 5]] as const) {
    const [z1, z2] = [unitGaussian([b, d], seed), unitGaussian([b, d], seed + 1)];
    close(
      read(ntXentLoss(as2d(z1), as2d(z2), { scale: 1 / tau })),
      slipSimclr(rows(z1), rows(z2), tau),
      1e-5,
    );
    tf.dispose([z1, z2]);
  }
});

Deno.test("ntXentLoss is exactly ln(2B − 1) at scale 0 and ITO's fusion loss is the same function", () => {
  const [z1, z2] = [unitGaussian([9, 4], 7), unitGaussian([9, 4], 8)];
  close(read(ntXentLoss(as2d(z1), as2d(z2), { scale: 0 })), Math.log(17), 1e-6);
  close(
    read(itoFusionLoss(as2d(z1), as2d(z2), { scale: 3 })),
    read(ntXentLoss(as2d(z1), as2d(z2), { scale: 3 })),
    0,
  );
  tf.dispose([z1, z2]);
});

Deno.test("ntXentLoss gradients (both views, a learnable θ) agree with finite differences", async () => {
  const [z1, z2] = [gaussian([4, 3], 11), gaussian([4, 3], 12)];
  const theta = tf.scalar(Math.log(3));
  await assertGradients(
    (a, b, th) => ntXentLoss(as2d(a!), as2d(b!), { scale: tf.exp(th!) as tf.Scalar }),
    [z1, z2, theta],
  );
  tf.dispose([z1, z2, theta]);
});

Deno.test("ntXentLoss refuses views of different shapes, naming both", () => {
  const [a, b] = [tf.zeros([4, 3]), tf.zeros([5, 3])];
  assert.throws(
    () => ntXentLoss(as2d(a), as2d(b), { scale: 10 }),
    /NT-Xent expects two views of the same shape \[B, D\], got view 1 \[4, 3\] and view 2 \[5, 3\]/,
  );
  tf.dispose([a, b]);
});
