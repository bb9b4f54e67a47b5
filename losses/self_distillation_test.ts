import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { selfDistillation } from "./self_distillation.ts";
import { assertNoLeak, close, gaussian, read } from "./testing.ts";
import type { Scalar, Tensor } from "../core/tensor.ts";

await tf.setBackend("cpu");

const OPTIONS = { studentTemperature: 0.1, teacherTemperature: 0.04 };

/** DINO's Algorithm 1 in float64: every (teacher view, other student view) pair. */
function reference(student: number[][][], teacher: number[][][], ts = 0.1, tt = 0.04): number {
  const softmax = (xs: number[], tau: number) => {
    const max = Math.max(...xs.map((x) => x / tau));
    const e = xs.map((x) => Math.exp(x / tau - max));
    const sum = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / sum);
  };
  let total = 0, pairs = 0;
  teacher.forEach((tv, t) => {
    student.forEach((sv, v) => {
      if (v === t) return;
      let ce = 0;
      tv.forEach((row, i) => {
        const q = softmax(row, tt), p = softmax(sv[i]!, ts);
        ce -= q.reduce((a, qk, k) => a + qk * Math.log(p[k]!), 0);
      });
      total += ce / tv.length;
      pairs++;
    });
  });
  return total / pairs;
}

const arr = (x: Tensor) => x.arraySync() as number[][][];

Deno.test("selfDistillation equals DINO's loss in float64 (global + local views, odd sizes)", () => {
  for (const [vs, vt, b, k] of [[6, 2, 3, 5], [2, 2, 1, 7], [3, 1, 4, 2]] as const) {
    const student = tf.mul(gaussian([vs, b, k], vs + k), 0.3);
    const teacher = tf.mul(gaussian([vt, b, k], 100 + b), 0.05);
    close(read(selfDistillation(student, teacher, OPTIONS)), reference(arr(student), arr(teacher)));
    tf.dispose([student, teacher]);
  }
});

Deno.test("selfDistillation is ln K for uniform scores, with [B, K] taken as one view", () => {
  const student = tf.zeros([3, 4, 9]), teacher = tf.ones([4, 9]);
  close(read(selfDistillation(student, teacher, OPTIONS)), Math.log(9), 1e-6);
  tf.dispose([student, teacher]);
});

Deno.test("selfDistillation gradients: finite differences for the student, none for the teacher", async () => {
  const student = tf.mul(gaussian([3, 2, 4], 1), 0.05);
  const teacher = tf.mul(gaussian([2, 2, 4], 2), 0.02);
  const loose = { studentTemperature: 0.5, teacherTemperature: 0.2 };
  await assertGradients((s) => selfDistillation(s!, teacher, loose), [student]);
  const g = tf.grad((t) => selfDistillation(student, t, OPTIONS))(teacher);
  assert.ok(g.dataSync().every((v) => v === 0));
  assertNoLeak((s, t) => selfDistillation(s!, t!, OPTIONS) as Scalar, [student, teacher]);
  tf.dispose([student, teacher, g]);
});

Deno.test("selfDistillation errors name the shapes and the missing pairs", () => {
  const one = tf.zeros([1, 2, 3]);
  assert.throws(() => selfDistillation(one, one, OPTIONS), /leaves no pair of different views/);
  const other = tf.zeros([2, 5, 3]);
  assert.throws(
    () => selfDistillation(other, one, OPTIONS),
    /teacher \[1, 2, 3\] and student \[2, 5, 3\] need the same batch and width/,
  );
  assert.throws(() => selfDistillation(tf.zeros([4]), one, OPTIONS), /student must be/);
  tf.dispose([one, other]);
});
