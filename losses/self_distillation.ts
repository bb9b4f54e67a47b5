/**
 * DINO's self-distillation loss ({@link https://arxiv.org/abs/2104.14294 |
 * arXiv 2104.14294}, Algorithm 1), the local-to-global consistency term of
 * SILC ({@link https://arxiv.org/abs/2310.13355 | arXiv 2310.13355}) and
 * SigLIP 2. A momentum teacher's (centred) prototype scores on the global
 * views are sharpened into targets, and the student's scores on every other
 * view — other global crops and the local ones — are pulled towards them:
 *
 *   qₜ = softmax(teacherₜ / τ_t)        (constant: no gradient)
 *   pᵥ = log_softmax(studentᵥ / τ_s)
 *   L  = mean over pairs (t, v), v ≠ t, of mean_b −Σ_k qₜ,b,k · pᵥ,b,k
 *
 * with DINO's τ_s = 0.1 and τ_t = 0.04. Student views are indexed as the
 * teacher's: view `t` of the student is the crop the teacher saw as view `t`
 * (global crops first, as a `vit` over `[views, local]` orders them), so
 * `v = t` pairs are skipped. For uniform scores the loss is `ln K`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import { fmtShape, stopGradient } from "./common.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";

/** Options of {@linkcode selfDistillation}. */
export interface SelfDistillationOptions {
  /** Student temperature τ_s (DINO: 0.1). */
  studentTemperature: number;
  /**
   * Teacher temperature τ_t (DINO: 0.04, warmed up to 0.07 in long runs); a
   * one-element tensor for one that changes over the run.
   */
  teacherTemperature: number | Tensor;
}

/** `[B, K]` as one view `[1, B, K]`; `[V, B, K]` as is. */
function asViews(x: Tensor, role: string): Tensor {
  if (x.rank === 2) return tf.expandDims(x, 0);
  if (x.rank === 3) return x;
  throw new Error(
    `self_distillation: ${role} must be [V, B, K] or [B, K], got ${fmtShape(x.shape)}`,
  );
}

/**
 * DINO's cross-entropy between teacher targets and student predictions over
 * every pair of different views.
 *
 * @param student Student scores `[Vs, B, K]` (or `[B, K]`).
 * @param teacher Teacher scores `[Vt, B, K]` (or `[B, K]`), centred; no gradient flows into them.
 * @param options The two temperatures.
 * @returns The mean over the `Vt·Vs − min(Vt, Vs)` pairs.
 */
export function selfDistillation(
  student: Tensor,
  teacher: Tensor,
  options: SelfDistillationOptions,
): Scalar {
  return tf.tidy(() => {
    const s = asViews(student, "student"), t = asViews(teacher, "teacher");
    const [vs, b, k] = s.shape as [number, number, number];
    const vt = t.shape[0]!;
    if (t.shape[1] !== b || t.shape[2] !== k) {
      throw new Error(
        `self_distillation: teacher ${fmtShape(teacher.shape)} and student ` +
          `${fmtShape(student.shape)} need the same batch and width [·, B, K]`,
      );
    }
    const pairs = vt * vs - Math.min(vt, vs);
    if (pairs === 0) {
      throw new Error(
        "self_distillation: one view on each side leaves no pair of different views; give the " +
          "student more views (local crops) or the teacher a second global one",
      );
    }
    const tau = typeof options.teacherTemperature === "number"
      ? options.teacherTemperature
      : tf.reshape(options.teacherTemperature, []);
    const q = tf.softmax(tf.div(stopGradient(t), tau));
    const logp = tf.logSoftmax(tf.div(s, options.studentTemperature));
    // cross[t, v] = −Σ_b Σ_k q[t, b, k] · logp[v, b, k], one matmul over the flattened (b, k).
    const cross = tf.neg(matmul(
      tf.reshape(q, [vt, b * k]) as Tensor2D,
      tf.reshape(logp, [vs, b * k]) as Tensor2D,
      { transposeB: true },
    ));
    const same = tf.oneHot(tf.range(0, vt, 1, "int32"), vs).toFloat();
    const kept = tf.sum(tf.mul(cross, tf.sub(1, same)));
    return tf.div(kept, pairs * b) as Scalar;
  });
}
