/**
 * Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4 and 7.5) for smooth
 * convex objectives of a few thousand parameters — the linear probe's
 * logistic regression, as CLIP's protocol fits it (sklearn's `lbfgs`). The
 * search direction comes from the last `memory` curvature pairs (two-loop
 * recursion, initial scaling sᵀy / yᵀy); steps satisfy the strong Wolfe
 * conditions (c₁ = 1e-4, c₂ = 0.9; bracketing and zoom with safeguarded
 * quadratic interpolation, Algorithms 3.5 and 3.6), so every stored pair has
 * sᵀy > 0. It stops when the gradient's largest entry is at most
 * `tolerance` (converged), after `maxIterations`, or when no step decreases
 * the objective any more (precision exhausted: not converged unless the
 * gradient is small).
 *
 * @module
 */

/** The objective's value and gradient at a point. */
export interface Evaluation {
  /** f(x). */
  value: number;
  /** ∇f(x), the length of x. */
  gradient: Float64Array;
}

/** Options of {@link minimizeLbfgs}. */
export interface LbfgsOptions {
  /** Iterations at most. */
  maxIterations: number;
  /** Converged when max |∇f| ≤ this. */
  tolerance: number;
  /** Curvature pairs kept (default 10). */
  memory?: number;
}

/** What {@link minimizeLbfgs} found. */
export interface LbfgsResult {
  /** The last point. */
  x: Float64Array;
  /** f there. */
  value: number;
  /** max |∇f| there. */
  gradientNorm: number;
  /** Iterations taken. */
  iterations: number;
  /** Objective evaluations made. */
  evaluations: number;
  /** Whether max |∇f| ≤ tolerance. */
  converged: boolean;
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const maxAbs = (a: Float64Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The two-loop recursion: −H∇f from the stored pairs. */
function direction(g: Float64Array, pairs: { s: Float64Array; y: Float64Array; rho: number }[]) {
  const q = Float64Array.from(g);
  const alpha = new Float64Array(pairs.length);
  for (let k = pairs.length - 1; k >= 0; k--) {
    const { s, y, rho } = pairs[k]!;
    alpha[k] = rho * dot(s, q);
    for (let i = 0; i < q.length; i++) q[i]! -= alpha[k]! * y[i]!;
  }
  const last = pairs.at(-1);
  const gamma = last ? dot(last.s, last.y) / dot(last.y, last.y) : 1;
  for (let i = 0; i < q.length; i++) q[i]! *= gamma;
  for (let k = 0; k < pairs.length; k++) {
    const { s, y, rho } = pairs[k]!;
    const beta = rho * dot(y, q);
    for (let i = 0; i < q.length; i++) q[i]! += s[i]! * (alpha[k]! - beta);
  }
  return q.map((v) => -v);
}

/** A step along a direction and the objective there. */
interface Step {
  t: number;
  at: Evaluation;
}

/**
 * A step satisfying the strong Wolfe conditions along `direction`, or none
 * when 20 trials in each phase find no sufficient decrease (precision exhausted).
 */
async function wolfeStep(
  phi: (t: number) => Evaluation | Promise<Evaluation>,
  from: { value: number; slope: number; t0: number; direction: Float64Array },
): Promise<{ step?: Step; evaluations: number }> {
  const [c1, c2] = [1e-4, 0.9];
  const { value: f0, slope: g0, direction } = from;
  let evaluations = 0;
  const trial = async (t: number) => {
    evaluations++;
    const at = await phi(t);
    return { t, at, slope: dot(at.gradient, direction) };
  };
  const armijo = (p: { t: number; at: Evaluation }) =>
    Number.isFinite(p.at.value) && p.at.value <= f0 + c1 * p.t * g0;
  const curvature = (p: { slope: number }) => Math.abs(p.slope) <= -c2 * g0;
  /** Algorithm 3.6: shrink [lo, hi] (lo satisfies Armijo, with the lower value) to a Wolfe step. */
  const zoom = async (
    lo: { t: number; at: Evaluation; slope: number } | undefined,
    hi: { t: number; value: number },
  ) => {
    let low = lo ?? { t: 0, at: { value: f0, gradient: new Float64Array() }, slope: g0 };
    let high = hi;
    for (let i = 0; i < 20; i++) {
      const width = high.t - low.t;
      // The minimiser of the quadratic through f(lo), f'(lo), f(hi), kept inside the interval.
      const denom = 2 * (high.value - low.at.value - low.slope * width);
      let t = denom > 0 ? low.t - (low.slope * width * width) / denom : NaN;
      const [a, b] = [Math.min(low.t, high.t), Math.max(low.t, high.t)];
      if (!(t > a + 0.1 * (b - a) && t < b - 0.1 * (b - a))) t = (low.t + high.t) / 2;
      const p = await trial(t);
      if (!armijo(p) || p.at.value >= low.at.value) {
        high = { t, value: p.at.value };
      } else {
        if (curvature(p)) return p;
        if (p.slope * (high.t - low.t) >= 0) high = { t: low.t, value: low.at.value };
        low = p;
      }
    }
    return low.t > 0 ? low : undefined; // Armijo holds there: a usable, if not Wolfe, step
  };
  let prev: { t: number; at: Evaluation; slope: number } | undefined;
  let t = from.t0;
  for (let i = 0; i < 20; i++) {
    const p = await trial(t);
    if (!armijo(p) || (prev && p.at.value >= prev.at.value)) {
      const step = await zoom(prev, {
        t,
        value: Number.isFinite(p.at.value) ? p.at.value : Infinity,
      });
      return { ...(step && { step }), evaluations };
    }
    if (curvature(p)) return { step: p, evaluations };
    if (p.slope >= 0) {
      const step = await zoom(p, { t: prev?.t ?? 0, value: prev?.at.value ?? f0 });
      return { ...(step && { step }), evaluations };
    }
    prev = p;
    t *= 2;
  }
  return { ...(prev && { step: prev }), evaluations };
}

/**
 * Minimises `f` from `x0`.
 *
 * @param f The objective: value and gradient at a point (may be asynchronous).
 * @param x0 The starting point (not modified).
 * @param options Iteration cap, gradient tolerance, memory.
 */
export async function minimizeLbfgs(
  f: (x: Float64Array) => Evaluation | Promise<Evaluation>,
  x0: Float64Array,
  options: LbfgsOptions,
): Promise<LbfgsResult> {
  const memory = options.memory ?? 10;
  let x: Float64Array = Float64Array.from(x0);
  let current = await f(x);
  let evaluations = 1, iterations = 0;
  const pairs: { s: Float64Array; y: Float64Array; rho: number }[] = [];
  while (iterations < options.maxIterations && maxAbs(current.gradient) > options.tolerance) {
    let d = direction(current.gradient, pairs);
    let slope = dot(current.gradient, d);
    if (!(slope < 0)) {
      // Not a descent direction (rounding): forget the curvature, take the gradient.
      pairs.length = 0;
      d = current.gradient.map((v) => -v);
      slope = dot(current.gradient, d);
    }
    // The first step is scaled to a unit move; later ones start at the quasi-Newton step 1.
    const t0 = pairs.length === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    const found = await wolfeStep((t) => f(x.map((v, i) => v + t * d[i]!)), {
      value: current.value,
      slope,
      t0,
      direction: d,
    });
    evaluations += found.evaluations;
    if (!found.step) break; // no decrease left at this precision
    const { t, at: next } = found.step;
    const point = x.map((v, i) => v + t * d[i]!);
    iterations++;
    const s = point.map((v, i) => v - x[i]!);
    const y = next.gradient.map((v, i) => v - current.gradient[i]!);
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      pairs.push({ s, y, rho: 1 / sy });
      if (pairs.length > memory) pairs.shift();
    }
    x = point;
    current = next;
  }
  const gradientNorm = maxAbs(current.gradient);
  return {
    x,
    value: current.value,
    gradientNorm,
    iterations,
    evaluations,
    converged: gradientNorm <= options.tolerance,
  };
}
