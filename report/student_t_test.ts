import assert from "node:assert/strict";
import { incompleteBeta, logGamma, studentTwoSided } from "./student_t.ts";

const close = (a: number, b: number, tol = 1e-10) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("logGamma: factorials and Γ(1/2) = √π", () => {
  close(logGamma(1), 0);
  close(logGamma(5), Math.log(24));
  close(logGamma(0.5), 0.5 * Math.log(Math.PI));
  close(logGamma(10.5), Math.log(1133278.3889487855));
});

Deno.test("incompleteBeta: closed forms I_x(1, 1) = x, I_x(a, 1) = xᵃ, symmetry", () => {
  for (const x of [0.01, 0.3, 0.5, 0.77, 0.99]) {
    close(incompleteBeta(x, 1, 1), x);
    close(incompleteBeta(x, 3, 1), x ** 3);
    close(incompleteBeta(x, 2.5, 4) + incompleteBeta(1 - x, 4, 2.5), 1);
  }
  assert.equal(incompleteBeta(0, 2, 3), 0);
  assert.equal(incompleteBeta(1, 2, 3), 1);
});

Deno.test("studentTwoSided: the closed forms at 1, 2 and 4 degrees of freedom", () => {
  for (const t of [0, 0.3, 1, 2.5, 4.303, 12.7, -3]) {
    const a = Math.abs(t);
    // df 1 (Cauchy): 1 − (2/π)·atan|t|; df 2: 1 − |t|/√(t² + 2).
    close(studentTwoSided(t, 1), 1 - (2 / Math.PI) * Math.atan(a));
    close(studentTwoSided(t, 2), 1 - a / Math.sqrt(t * t + 2));
    // df 4: 1 − |t|(t² + 6) / (t² + 4)^{3/2}.
    close(studentTwoSided(t, 4), 1 - a * (t * t + 6) / (t * t + 4) ** 1.5);
  }
  // Textbook critical values: t₀.₉₇₅ at df 2 is 4.303, at df 30 is 2.042.
  close(studentTwoSided(4.302652729911275, 2), 0.05, 1e-9);
  close(studentTwoSided(2.0422724563012373, 30), 0.05, 1e-9);
  assert.equal(studentTwoSided(Infinity, 3), 0);
  assert.ok(Number.isNaN(studentTwoSided(NaN, 3)));
  assert.throws(() => studentTwoSided(1, 0), /df is 0; expected a number > 0/);
});
