import assert from "node:assert/strict";
import { minimizeLbfgs } from "./lbfgs.ts";

Deno.test("minimizeLbfgs: ill-conditioned quadratics, in as many iterations as PyTorch's", async () => {
  // f(x) = ½ Σ cᵢ (xᵢ − i)² over 20 coordinates, cᵢ spread log-uniformly up to the condition number.
  // torch.optim.LBFGS (strong Wolfe) to max |∇f| ≤ 1e-6: 69 iterations at κ = 100 with 10 pairs,
  // 128 at κ = 10⁴ with 30 (with 10 it does not converge in 1000).
  for (const [kappa, memory, torch] of [[100, 10, 69], [1e4, 30, 128]] as const) {
    const c = Float64Array.from({ length: 20 }, (_, i) => kappa ** (i / 19));
    const f = (x: Float64Array) => ({
      value: 0.5 * x.reduce((s, v, i) => s + c[i]! * (v - i) ** 2, 0),
      gradient: x.map((v, i) => c[i]! * (v - i)),
    });
    const r = await minimizeLbfgs(f, new Float64Array(20), {
      maxIterations: 1000,
      tolerance: 1e-6,
      memory,
    });
    assert.ok(r.converged, `κ ${kappa}: ${r.iterations} iterations, max |∇f| ${r.gradientNorm}`);
    assert.ok(r.iterations <= 1.25 * torch, `κ ${kappa}: ${r.iterations} iterations`);
    r.x.forEach((v, i) => assert.ok(Math.abs(v - i) < 1e-5, `x${i} = ${v}`));
  }
});

Deno.test("minimizeLbfgs: Rosenbrock's valley, and the iteration cap reported", async () => {
  const f = (x: Float64Array) => {
    const [a, b] = [x[0]!, x[1]!];
    return {
      value: (1 - a) ** 2 + 100 * (b - a * a) ** 2,
      gradient: Float64Array.from([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)]),
    };
  };
  const start = Float64Array.from([-1.2, 1]);
  const r = await minimizeLbfgs(f, start, { maxIterations: 200, tolerance: 1e-8 });
  assert.ok(r.converged);
  assert.ok(Math.abs(r.x[0]! - 1) < 1e-6 && Math.abs(r.x[1]! - 1) < 1e-6, `${r.x}`);
  assert.deepEqual([...start], [-1.2, 1], "x0 untouched");
  const capped = await minimizeLbfgs(f, start, { maxIterations: 3, tolerance: 1e-8 });
  assert.equal(capped.iterations, 3);
  assert.equal(capped.converged, false);
});
