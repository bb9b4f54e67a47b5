/**
 * Multinomial logistic regression on fixed features, full batch:
 *
 *   min_{W, b}  mean_i CE(softmax(x_i W + b), y_i) + (λ/2)·‖W‖²   (bias not decayed)
 *
 * The objective is convex. The default solver is L-BFGS (`eval/lbfgs.ts`; as
 * CLIP's probes are fitted, sklearn's `lbfgs`), run until the gradient's
 * largest entry is at most `tolerance` or `maxIterations` pass — the model
 * says whether it converged (with λ = 0 on separable features there is no
 * minimiser: the weights grow until the gradient is below the tolerance, or
 * the cap). The objective and its gradient are computed on the tensor backend
 * in float32, the quasi-Newton steps on the host in float64; float32 values
 * stop the line search near a largest gradient entry of 2–4e-5, so a
 * `tolerance` below ~5e-5 is not reached (the fit then reports not converged). `solver: "adam"` is the earlier fixed-budget fit (full
 * batch Adam, cosine-decayed step size, `steps` and `lr`), kept to reproduce
 * numbers made with it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Matrix } from "./linalg.ts";
import { type Evaluation, minimizeLbfgs } from "./lbfgs.ts";

/** Options of {@link fitLogistic}. */
export interface LogisticOptions {
  /** Number of classes C (labels in `[0, C)`). */
  classes: number;
  /** L2 penalty λ on the weights (default 0). */
  weightDecay?: number;
  /** `lbfgs` (default) or `adam` (a fixed number of steps). */
  solver?: "lbfgs" | "adam";
  /** L-BFGS: iterations at most (default 1000, as CLIP's probes). */
  maxIterations?: number;
  /** L-BFGS: converged when the gradient's largest entry is at most this (default 1e-4). */
  tolerance?: number;
  /** Adam: full-batch steps (default 300). */
  steps?: number;
  /** Adam: initial step size, decayed to 0 by a cosine (default 0.05). */
  lr?: number;
}

/** A fitted classifier. */
export interface LogisticModel {
  /** Weights `[D, C]`. */
  weights: Matrix;
  /** Bias `[C]`. */
  bias: Float64Array;
  /** Final value of the regularised objective. */
  loss: number;
  /** L-BFGS: whether the gradient tolerance was met (Adam: undefined). */
  converged?: boolean;
  /** L-BFGS iterations (Adam: its steps). */
  iterations: number;
}

/** Regularised mean cross-entropy of logits `x W + b` against one-hot `y`. */
function objective(
  x: tf.Tensor2D,
  y: tf.Tensor2D,
  at: { w: tf.Tensor2D; b: tf.Tensor1D; lambda: number },
): tf.Scalar {
  const logits = tf.add(tf.matMul(x, at.w), at.b);
  const ce = tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1)));
  return tf.add(ce, tf.mul(0.5 * at.lambda, tf.sum(tf.square(at.w)))) as tf.Scalar;
}

/** Checks labels and shapes; returns one-hot targets `[N, C]` as a tensor. */
function oneHotTargets(x: Matrix, y: ArrayLike<number>, classes: number): tf.Tensor2D {
  if (y.length !== x.rows || x.rows === 0) {
    throw new Error(
      `fitLogistic: ${x.rows} feature rows but ${y.length} labels; expected equal, non-zero counts`,
    );
  }
  for (let i = 0; i < y.length; i++) {
    if (!Number.isInteger(y[i]) || y[i]! < 0 || y[i]! >= classes) {
      throw new Error(`fitLogistic: label ${y[i]} of sample ${i} is outside [0, ${classes})`);
    }
  }
  return tf.tidy(() =>
    tf.oneHot(tf.tensor1d(Int32Array.from(y), "int32"), classes).toFloat() as tf.Tensor2D
  );
}

/** Adam moments of one parameter. */
interface Moments {
  m: tf.Tensor;
  v: tf.Tensor;
}

/** One Adam update of `p` with gradient `g` at step `t` (1-based); replaces `state`'s moments. */
function adamUpdate(
  p: tf.Variable,
  g: tf.Tensor,
  at: { state: Moments; t: number; rate: number },
): void {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const { state, t } = at;
  const m = tf.tidy(() => tf.add(tf.mul(state.m, b1), tf.mul(g, 1 - b1)));
  const v = tf.tidy(() => tf.add(tf.mul(state.v, b2), tf.mul(tf.square(g), 1 - b2)));
  tf.tidy(() => {
    const step = tf.div(tf.div(m, 1 - b1 ** t), tf.add(tf.sqrt(tf.div(v, 1 - b2 ** t)), eps));
    p.assign(tf.sub(p, tf.mul(step, at.rate)));
  });
  tf.dispose([state.m, state.v]);
  Object.assign(state, { m, v });
}

/**
 * Fits multinomial logistic regression.
 *
 * @param x Features `[N, D]` (standardise them first for well-conditioned steps).
 * @param y Labels `[N]` in `[0, C)`.
 * @returns Weights, bias, the final objective and (L-BFGS) whether it converged.
 */
export function fitLogistic(
  x: Matrix,
  y: ArrayLike<number>,
  options: LogisticOptions,
): Promise<LogisticModel> {
  return options.solver === "adam" ? fitAdam(x, y, options) : fitLbfgs(x, y, options);
}

/** The objective's value and gradient at flat parameters `[W (D×C, row-major), b (C)]`. */
async function evaluateAt(
  params: Float64Array,
  at: { x: tf.Tensor2D; y: tf.Tensor2D; dims: number; classes: number; lambda: number },
): Promise<Evaluation> {
  const { dims, classes, lambda } = at;
  const [value, gw, gb] = tf.tidy(() => {
    const w = tf.tensor2d(Float32Array.from(params.subarray(0, dims * classes)), [dims, classes]);
    const b = tf.tensor1d(Float32Array.from(params.subarray(dims * classes)));
    const logits = tf.add(tf.matMul(at.x, w), b);
    const logP = tf.logSoftmax(logits);
    const n = at.x.shape[0];
    const ce = tf.neg(tf.div(tf.sum(tf.mul(at.y, logP)), n));
    const value = tf.add(ce, tf.mul(0.5 * lambda, tf.sum(tf.square(w))));
    // ∂/∂logits = (softmax − onehot) / N.
    const g = tf.div(tf.sub(tf.exp(logP), at.y), n);
    return [value, tf.add(tf.matMul(at.x, g, true, false), tf.mul(lambda, w)), tf.sum(g, 0)];
  });
  const [v, dw, db] = await Promise.all([value.data(), gw.data(), gb.data()]);
  tf.dispose([value, gw, gb]);
  const gradient = new Float64Array(params.length);
  gradient.set(dw);
  gradient.set(db, dims * classes);
  return { value: v[0]!, gradient };
}

/** The L-BFGS fit (see the module notes). */
async function fitLbfgs(
  x: Matrix,
  y: ArrayLike<number>,
  options: LogisticOptions,
): Promise<LogisticModel> {
  const { classes, weightDecay: lambda = 0 } = options;
  const xt = tf.tensor2d(Float32Array.from(x.data), [x.rows, x.cols]);
  const yt = oneHotTargets(x, y, classes);
  try {
    const at = { x: xt, y: yt, dims: x.cols, classes, lambda };
    const result = await minimizeLbfgs(
      (p) => evaluateAt(p, at),
      new Float64Array((x.cols + 1) * classes),
      { maxIterations: options.maxIterations ?? 1000, tolerance: options.tolerance ?? 1e-4 },
    );
    return {
      weights: { rows: x.cols, cols: classes, data: result.x.slice(0, x.cols * classes) },
      bias: result.x.slice(x.cols * classes),
      loss: result.value,
      converged: result.converged,
      iterations: result.iterations,
    };
  } finally {
    tf.dispose([xt, yt]);
  }
}

/** The fixed-budget Adam fit (see the module notes). */
async function fitAdam(
  x: Matrix,
  y: ArrayLike<number>,
  options: LogisticOptions,
): Promise<LogisticModel> {
  const { classes, weightDecay: lambda = 0, steps = 300, lr = 0.05 } = options;
  const xt = tf.tensor2d(Float32Array.from(x.data), [x.rows, x.cols]);
  const yt = oneHotTargets(x, y, classes);
  const w = tf.tidy(() => tf.variable(tf.zeros([x.cols, classes]))) as tf.Variable<tf.Rank.R2>;
  const b = tf.tidy(() => tf.variable(tf.zeros([classes]))) as tf.Variable<tf.Rank.R1>;
  const states: Moments[] = [w, b].map((p) => ({ m: tf.zerosLike(p), v: tf.zerosLike(p) }));
  const loss = () => objective(xt, yt, { w, b, lambda });
  try {
    for (let t = 1; t <= steps; t++) {
      const rate = lr * 0.5 * (1 + Math.cos((Math.PI * (t - 1)) / steps));
      const { value, grads } = tf.variableGrads(loss, [w, b]);
      adamUpdate(w, grads[w.name]!, { state: states[0]!, t, rate });
      adamUpdate(b, grads[b.name]!, { state: states[1]!, t, rate });
      tf.dispose([value, ...Object.values(grads)]);
    }
    const final = tf.tidy(loss);
    const [wd, bd, l] = await Promise.all([w.data(), b.data(), final.data()]);
    final.dispose();
    return {
      weights: { rows: x.cols, cols: classes, data: Float64Array.from(wd) },
      bias: Float64Array.from(bd),
      loss: l[0]!,
      iterations: steps,
    };
  } finally {
    tf.dispose([xt, yt, w, b, ...states.flatMap((s) => [s.m, s.v])]);
  }
}

/** Class scores `[N, C]` (`x W + b`) of a fitted model. */
export function logisticScores(model: LogisticModel, x: Matrix): Matrix {
  const { weights: w, bias } = model;
  if (x.cols !== w.rows) {
    throw new Error(`logisticScores: features have ${x.cols} columns, the model expects ${w.rows}`);
  }
  const data = new Float64Array(x.rows * w.cols);
  for (let i = 0; i < x.rows; i++) {
    for (let c = 0; c < w.cols; c++) {
      let s = bias[c]!;
      for (let d = 0; d < x.cols; d++) s += x.data[i * x.cols + d]! * w.data[d * w.cols + c]!;
      data[i * w.cols + c] = s;
    }
  }
  return { rows: x.rows, cols: w.cols, data };
}

/** Per-column mean and standard deviation of `x` (std floored at 1e-8), for {@link standardize}. */
export function featureStats(x: Matrix): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(x.cols), sq = new Float64Array(x.cols);
  for (let i = 0; i < x.rows; i++) {
    for (let d = 0; d < x.cols; d++) mean[d]! += x.data[i * x.cols + d]!;
  }
  mean.forEach((v, d) => (mean[d] = v / x.rows));
  for (let i = 0; i < x.rows; i++) {
    for (let d = 0; d < x.cols; d++) sq[d]! += (x.data[i * x.cols + d]! - mean[d]!) ** 2;
  }
  return { mean, std: sq.map((v) => Math.max(Math.sqrt(v / x.rows), 1e-8)) };
}

/** `(x − mean) / std` column-wise. */
export function standardize(x: Matrix, stats: { mean: Float64Array; std: Float64Array }): Matrix {
  const data = x.data.map((v, i) => (v - stats.mean[i % x.cols]!) / stats.std[i % x.cols]!);
  return { rows: x.rows, cols: x.cols, data };
}
