/**
 * `core/momentum_teacher.ts` on the CPU backend: the momentum schedule's
 * values, a teacher built from a real MLP following its source over a few
 * updates (a skipped step moving nothing), batch norm's running statistics
 * included, and the errors when the two do not correspond.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { MomentumTeacher, teacherDecay } from "./momentum_teacher.ts";
import { modules } from "./components.ts";
import "./builtins.ts";
import type { Module } from "./types.ts";

await tf.setBackend("cpu");

Deno.test("teacherDecay: constant, or a half cosine from decay to final over the run", () => {
  assert.equal(teacherDecay(1, 100, { of: "x", decay: 0.99 }), 0.99);
  assert.equal(teacherDecay(77, 100, { of: "x", decay: 0.99 }), 0.99);
  const cosine = { of: "x", decay: 0.996, final: 1 };
  assert.equal(teacherDecay(1, 100, cosine), 0.996);
  assert.ok(Math.abs(teacherDecay(51, 100, cosine) - 0.998) < 1e-12);
  // DINO's cosine_scheduler: update k + 1 of K at final + (base − final)(1 + cos(πk/K))/2.
  const k = 73, dino = 1 + 0.5 * (0.996 - 1) * (1 + Math.cos(Math.PI * k / 100));
  assert.ok(Math.abs(teacherDecay(k + 1, 100, cosine) - dino) < 1e-15);
  assert.equal(teacherDecay(101, 100, cosine), 1);
  assert.equal(teacherDecay(500, 100, cosine), 1, "past the run: held at final");
});

async function mlp(name: string, inputDim: number): Promise<Module> {
  const entry = modules.get("mlp");
  const params = entry.schema.parse({ layers: [6, 3], norm: "batch" });
  return await entry.create(params, {
    name,
    inputShapes: [[-1, inputDim]],
    seed: name.length,
    cacheDir: "/tmp",
  });
}

/** Weights, then batch norm's running statistics. */
const values = (m: Module) =>
  [...m.parameters, ...(m.buffers ?? [])].map((p) => Array.from(p.variable.dataSync()));

Deno.test("MomentumTeacher follows its source, statistics too; a skipped step moves nothing", async () => {
  const source = await mlp("head", 4);
  const teacher = new MomentumTeacher(await mlp("head_teacher", 4), { of: "head", decay: 0.5 });
  teacher.follow(source, "head_teacher");
  assert.deepEqual(values(teacher.copy), values(source), "starts as a copy");
  assert.equal(teacher.parameters.length, 0);
  assert.equal(teacher.buffers.length, source.parameters.length + source.buffers!.length);

  const expected = values(source).map((v) => Float64Array.from(v));
  const progress = { updates: () => 1, total: 10 };
  for (const [step, ok] of [[1, 1], [2, 0], [3, 1]] as const) {
    for (const p of source.parameters) {
      tf.tidy(() => p.variable.assign(tf.add(p.variable, tf.scalar(0.25 * step))));
    }
    const x = tf.randomNormal([5, 4], 0, 1, "float32", step);
    tf.dispose([source.forward([x], { training: true, step, seed: 0 }) as tf.Tensor]);
    tf.dispose([teacher.forward([x], { training: true, step, seed: 0 }) as tf.Tensor]);
    const guard = tf.tensor1d([1, ok, 0]);
    source.afterStep?.(guard, progress); // the graph runs the source's hook first
    teacher.afterStep(guard, progress);
    guard.dispose();
    x.dispose();
    if (ok) {
      values(source).forEach((s, i) =>
        expected[i]!.forEach((t, j) => (expected[i]![j] = t + (s[j]! - t) * 0.5))
      );
    }
  }
  values(teacher.copy).forEach((t, i) =>
    t.forEach((x, j) => assert.ok(Math.abs(x - expected[i]![j]!) < 1e-6, `${i}:${j}`))
  );
  // The running statistics moved too (the source's, averaged): not their initial 0 and 1.
  const stats = (m: Module) => m.buffers!.map((b) => Array.from(b.variable.dataSync()));
  assert.ok(stats(teacher.copy)[0]!.some((x) => x !== 0));
  teacher.dispose();
  source.dispose();
});

Deno.test("MomentumTeacher: a copy of other shapes is refused, naming the tensor", async () => {
  const source = await mlp("head", 4);
  const teacher = new MomentumTeacher(await mlp("t", 5), { of: "head", decay: 0.5 });
  assert.throws(
    () => teacher.follow(source, "t"),
    /layers\.0\.weight has shape \[5,6\] in the teacher, \[4,6\] in "head": give the teacher inputs/,
  );
  const scheduled = new MomentumTeacher(await mlp("u", 4), { of: "head", decay: 0.5, final: 1 });
  scheduled.follow(source, "u");
  assert.throws(() => scheduled.afterStep(), /needs the update count/);
  teacher.dispose();
  scheduled.dispose();
  source.dispose();
});
