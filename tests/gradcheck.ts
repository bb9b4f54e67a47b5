/**
 * A finite-difference gradient checker for scalar tensor functions.
 *
 * Compares `tf.grads(f)` with central differences
 * (f(x + h eⱼ) − f(x − h eⱼ)) / (2h) entry by entry. Everything runs in float32,
 * so the comparison is only meaningful for well-conditioned functions of O(1)
 * inputs: with step h the truncation error is O(h²·f‴) and the rounding error
 * ≈ 1e-7·|f| / h, so h = 1e-2 and a relative tolerance of ~1e-2 are the usual
 * working point. Tensors are read with `await data()`, so any backend works.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import type { Scalar, Tensor } from "../core/tensor.ts";

/** Options of {@linkcode gradCheck}. */
export interface GradCheckOptions {
  /** Finite-difference step h (default 1e-2). */
  eps?: number;
  /** Relative tolerance (default 1e-2). */
  rtol?: number;
  /** Absolute tolerance (default 1e-4). */
  atol?: number;
  /** Entries checked per input; larger inputs are sampled (default 64). */
  maxEntries?: number;
  /** Seed of the sampled entries (default 0). */
  seed?: number;
}

/** One compared entry. */
export interface GradCheckEntry {
  /** Position of the input in `inputs`. */
  input: number;
  /** Flat index of the entry within that input. */
  index: number;
  /** `tf.grads` value. */
  analytic: number;
  /** Central-difference value. */
  numeric: number;
  /** |analytic − numeric| / (atol + rtol · max(|analytic|, |numeric|)); ≤ 1 passes. */
  ratio: number;
}

/** Result of {@linkcode gradCheck}. */
export interface GradCheckResult {
  /** Whether every checked entry is within tolerance. */
  ok: boolean;
  /** Number of entries compared. */
  checked: number;
  /** The entry with the largest ratio. */
  worst: GradCheckEntry;
}

/** The flat indices to check: all of them, or `max` distinct ones drawn from `rng`. */
function pick(size: number, max: number, rng: Rng): number[] {
  if (size <= max) return Array.from({ length: size }, (_, i) => i);
  const chosen = new Set<number>();
  while (chosen.size < max) chosen.add(rng.int(size));
  return [...chosen].sort((a, b) => a - b);
}

/** f at `inputs` with entry `index` of input `which` replaced by `value`. */
async function evalAt(
  f: (...xs: Tensor[]) => Scalar,
  inputs: Tensor[],
  at: { which: number; index: number; value: number; base: Float32Array },
): Promise<number> {
  const values = at.base.slice();
  values[at.index] = at.value;
  const y = tf.tidy(() => {
    const xs = inputs.map((x, i) => i === at.which ? tf.tensor(values, x.shape) : x);
    return f(...xs);
  });
  const out = (await y.data())[0]!;
  y.dispose();
  return out;
}

/**
 * Checks the gradient of a scalar function against central differences.
 *
 * @param f A function of the inputs returning a scalar (must not dispose its inputs).
 * @param inputs The point `x` (float32 tensors); they are not modified.
 * @param options Step, tolerances and sampling.
 * @returns The verdict and the worst entry.
 */
export async function gradCheck(
  f: (...xs: Tensor[]) => Scalar,
  inputs: Tensor[],
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const { eps = 1e-2, rtol = 1e-2, atol = 1e-4, maxEntries = 64, seed = 0 } = options;
  const grads = tf.grads(f)(inputs);
  const rng = new Rng(seed);
  let worst: GradCheckEntry | undefined;
  let checked = 0;
  for (const [which, x] of inputs.entries()) {
    const base = Float32Array.from(await x.data());
    const analytic = await grads[which]!.data();
    for (const index of pick(base.length, maxEntries, rng)) {
      const up = Math.fround(base[index]! + eps);
      const down = Math.fround(base[index]! - eps);
      const fUp = await evalAt(f, inputs, { which, index, value: up, base });
      const fDown = await evalAt(f, inputs, { which, index, value: down, base });
      const numeric = (fUp - fDown) / (up - down);
      const a = analytic[index]!;
      const ratio = Math.abs(a - numeric) /
        (atol + rtol * Math.max(Math.abs(a), Math.abs(numeric)));
      checked++;
      if (!worst || !(ratio <= worst.ratio)) {
        worst = { input: which, index, analytic: a, numeric, ratio };
      }
    }
  }
  tf.dispose(grads);
  if (!worst) throw new Error("gradCheck: no entries to check (all inputs are empty)");
  return { ok: worst.ratio <= 1, checked, worst };
}

/**
 * {@linkcode gradCheck}, throwing an error that names the worst entry when a
 * gradient is off.
 *
 * @param f A function of the inputs returning a scalar.
 * @param inputs The point `x`.
 * @param options Step, tolerances and sampling.
 * @returns The result when every entry passes.
 */
export async function assertGradients(
  f: (...xs: Tensor[]) => Scalar,
  inputs: Tensor[],
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const result = await gradCheck(f, inputs, options);
  if (!result.ok) {
    const w = result.worst;
    throw new Error(
      `gradient mismatch at input ${w.input}, entry ${w.index}: analytic ${w.analytic}, ` +
        `numeric ${w.numeric} (ratio ${w.ratio.toFixed(3)} > 1 with rtol ${
          options.rtol ?? 1e-2
        }, atol ${options.atol ?? 1e-4}, eps ${options.eps ?? 1e-2})`,
    );
  }
  return result;
}
