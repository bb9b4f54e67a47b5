import assert from "node:assert/strict";
import { learningRate, SCHEDULE_KINDS, type ScheduleOptions } from "./schedule.ts";

function close(actual: number, expected: number, msg = ""): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${msg} ${actual} vs ${expected}`);
}

Deno.test("learningRate constant: base everywhere, or after a linear warm-up", () => {
  const opts: ScheduleOptions = { base: 0.1, kind: "constant" };
  for (const step of [0, 1, 100, 1e6]) assert.equal(learningRate(step, opts), 0.1);
  const warm: ScheduleOptions = { base: 0.1, kind: "constant", warmup: 4 };
  close(learningRate(0, warm), 0.025);
  close(learningRate(1, warm), 0.05);
  close(learningRate(3, warm), 0.1);
  close(learningRate(50, warm), 0.1);
});

Deno.test("learningRate warmup_cosine: hand-computed values", () => {
  // base 1, warmup 4, total 12, minRatio 0.1: the cosine spans steps 4..12 (8 steps).
  const opts: ScheduleOptions = {
    base: 1,
    kind: "warmup_cosine",
    warmup: 4,
    total: 12,
    minRatio: 0.1,
  };
  close(learningRate(0, opts), 0.25, "step 0 = base/warmup");
  close(learningRate(1, opts), 0.5);
  close(learningRate(2, opts), 0.75);
  close(learningRate(3, opts), 1, "step warmup-1 reaches base");
  close(learningRate(4, opts), 1, "cosine starts at base");
  // step 6: p = 2/8, cos(π/4) = √2/2 → 0.1 + 0.9·(1 + √2/2)/2
  close(learningRate(6, opts), 0.1 + 0.9 * (1 + Math.SQRT1_2) / 2);
  close(learningRate(8, opts), 0.55, "midpoint: (base + floor)/2");
  // step 10: p = 6/8, cos(3π/4) = −√2/2
  close(learningRate(10, opts), 0.1 + 0.9 * (1 - Math.SQRT1_2) / 2);
  close(learningRate(11, opts), 0.1 + 0.9 * (1 + Math.cos(Math.PI * 7 / 8)) / 2);
  close(learningRate(12, opts), 0.1, "floor at total");
  close(learningRate(1000, opts), 0.1, "clamped past total");
});

Deno.test("learningRate warmup_cosine: no warm-up, base scaling, minRatio default 0", () => {
  const opts: ScheduleOptions = { base: 3e-4, kind: "warmup_cosine", total: 100 };
  close(learningRate(0, opts), 3e-4);
  close(learningRate(50, opts), 1.5e-4);
  close(learningRate(100, opts), 0);
  let prev = Infinity;
  for (let s = 0; s <= 100; s++) {
    const lr = learningRate(s, opts);
    assert.ok(lr <= prev, `monotone non-increasing at step ${s}`);
    prev = lr;
  }
});

Deno.test("learningRate: invalid options name the key, value and expectation", () => {
  const ok: ScheduleOptions = { base: 1, kind: "warmup_cosine", warmup: 2, total: 10 };
  assert.throws(() => learningRate(-1, ok), /step = -1; expected an integer >= 0/);
  assert.throws(() => learningRate(1.5, ok), /step = 1.5/);
  assert.throws(
    () => learningRate(0, { ...ok, base: -1 }),
    /base = -1; expected a finite number >= 0/,
  );
  assert.throws(
    () => learningRate(0, { ...ok, kind: "cosine" as ScheduleOptions["kind"] }),
    /kind = "cosine"; expected one of constant, warmup_cosine/,
  );
  assert.throws(
    () => learningRate(5, { ...ok, total: 2 }),
    /total = 2; expected an integer > warmup \(2\)/,
  );
  assert.throws(() => learningRate(5, { ...ok, total: undefined }), /total = undefined/);
  assert.throws(
    () => learningRate(5, { ...ok, minRatio: 2 }),
    /minRatio = 2; expected a number in \[0, 1\]/,
  );
  assert.throws(() => learningRate(0, { ...ok, warmup: -3 }), /warmup = -3/);
  // options are checked even on warm-up steps that would not use them
  assert.throws(() => learningRate(0, { ...ok, total: 1 }), /total = 1/);
  assert.deepEqual([...SCHEDULE_KINDS], ["constant", "warmup_cosine"]);
});
