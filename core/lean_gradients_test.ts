import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { leanVariableGrads, nodesBetween, type TapeNode } from "./lean_gradients.ts";
import type { Tensor } from "./tensor.ts";
import { peakBytes } from "../bench/step_memory.ts";

const seeded = (shape: number[], seed: number) =>
  tf.variable(tf.randomNormal(shape, 0, 0.5, "float32", seed));

/** Weights of a small residual MLP with LayerNorm, a shared weight and a split. */
function model() {
  return {
    w1: seeded([6, 12], 1),
    w2: seeded([12, 6], 2),
    gamma: tf.variable(tf.ones([6])),
    unused: seeded([3], 3),
    frozen: tf.variable(tf.ones([6]), false),
  };
}

type Model = ReturnType<typeof model>;

/** A custom-gradient op whose gradient hands the same dy object to both inputs. */
const sharedDy = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as Tensor]);
  return { value: tf.add(a as Tensor, b as Tensor), gradFunc: (dy: Tensor) => [dy, dy] };
});

function loss(m: Model, x: Tensor, depth = 3): tf.Scalar {
  let h = x;
  for (let i = 0; i < depth; i++) h = tf.tidy(() => block(m, h));
  return tf.mean(tf.square(h));
}

/** One residual block (in its own scope, as the models run theirs). */
function block(m: Model, h: Tensor): Tensor {
  {
    const mean = tf.mean(h, -1, true);
    const centred = tf.sub(h, mean);
    const std = tf.sqrt(tf.add(tf.mean(tf.square(centred), -1, true), 1e-5));
    const normed = tf.mul(tf.div(centred, std), m.gamma);
    const inner = tf.tanh(tf.matMul(normed, m.w1));
    // A multi-output op of which only one output is used (the other gets a null gradient).
    const [left] = tf.split(inner, 2, -1);
    const back = tf.matMul(tf.concat([left!, left!], -1), m.w2);
    return sharedDy(tf.mul(h, m.frozen), back) as Tensor;
  }
}

function compare(depth: number) {
  const m = model();
  const x = tf.randomNormal([5, 6], 0, 1, "float32", 7);
  const vars = Object.values(m);
  const stock = tf.variableGrads(() => loss(m, x, depth), vars);
  const lean = leanVariableGrads(() => loss(m, x, depth), vars);
  return { m, x, stock, lean };
}

Deno.test("lean gradients equal tfjs's bit for bit, leaving out what f does not depend on", async () => {
  const { m, x, stock, lean } = compare(3);
  assert.equal(
    await lean.value.data().then((d) => d[0]),
    await stock.value.data().then((d) => d[0]),
  );
  // tfjs names the frozen variable with a null gradient; both leave out the unused one.
  assert.deepEqual(
    Object.keys(lean.grads).sort(),
    ["gamma", "w1", "w2"].map((k) => m[k as "w1"].name).sort(),
  );
  assert.equal(stock.grads[m.frozen.name], null);
  for (const [name, g] of Object.entries(lean.grads)) {
    assert.deepEqual(await g.data(), await stock.grads[name]!.data(), name);
  }
  tf.dispose([x, lean.value, stock.value, ...Object.values(lean.grads), ...Object.values(m)]);
  tf.dispose(Object.values(stock.grads).filter((g) => g) as Tensor[]);
});

Deno.test("lean gradients leave only the value and the gradients alive", () => {
  const m = model();
  const x = tf.randomNormal([5, 6], 0, 1, "float32", 7);
  const before = tf.memory().numTensors;
  const lean = leanVariableGrads(() => loss(m, x), Object.values(m));
  assert.equal(tf.memory().numTensors, before + 1 + Object.keys(lean.grads).length);
  const engine = tf.engine() as unknown as {
    state: { activeTape: unknown; gradientDepth: number };
  };
  assert.equal(engine.state.activeTape, null);
  assert.equal(engine.state.gradientDepth, 0);
  tf.dispose([x, lean.value, ...Object.values(lean.grads), ...Object.values(m)]);
});

Deno.test("the lean backward pass peaks well below tfjs's on a deep chain", () => {
  const m = model();
  const x = tf.randomNormal([256, 6], 0, 1, "float32", 7);
  const vars = Object.values(m);
  const run = (grads: typeof leanVariableGrads) => () => {
    const out = grads(() => loss(m, x, 24), vars);
    tf.dispose([out.value, ...Object.values(out.grads).filter((g) => g) as Tensor[]]);
  };
  const base = tf.memory().numBytes;
  const stock = peakBytes(run(tf.variableGrads)) - base;
  const lean = peakBytes(run(leanVariableGrads)) - base;
  assert.ok(lean < 0.7 * stock, `lean ${lean} B, stock ${stock} B`);
  tf.dispose([x, ...vars]);
});

Deno.test("a throwing gradient frees the tape and everything the pass made", () => {
  const m = model();
  const x = tf.randomNormal([5, 6], 0, 1, "float32", 7);
  const broken = tf.customGrad((a, _save) => ({
    value: tf.mul(a as Tensor, 2),
    gradFunc: () => {
      throw new Error("broken gradient");
    },
  }));
  const before = tf.memory().numTensors;
  assert.throws(
    () =>
      leanVariableGrads(
        () => tf.sum(broken(tf.matMul(loss(m, x).reshape([1, 1]), m.w1.slice([0, 0], [1, 3])))),
        Object.values(m),
      ),
    /broken gradient/,
  );
  assert.equal(tf.memory().numTensors, before);
  const engine = tf.engine() as unknown as {
    state: { activeTape: unknown; gradientDepth: number };
  };
  assert.equal(engine.state.activeTape, null);
  assert.equal(engine.state.gradientDepth, 0);
  tf.dispose([x, ...Object.values(m)]);
});

Deno.test("a loss that reaches no variable, or is not a scalar, is refused", () => {
  const v = tf.variable(tf.ones([2]));
  const fixed = tf.variable(tf.ones([1]), false);
  const before = tf.memory().numTensors;
  assert.throws(() => leanVariableGrads(() => tf.scalar(1), [v]), /Cannot find a connection/);
  assert.throws(
    () => leanVariableGrads(() => tf.mul(v, 2) as unknown as tf.Scalar, [v]),
    /must return a scalar/,
  );
  assert.throws(
    () => leanVariableGrads(() => tf.sum(v), [fixed]),
    /trainable/,
  );
  assert.equal(tf.memory().numTensors, before); // the values f made are freed too
  tf.dispose([v, fixed]);
});

Deno.test("nodesBetween keeps the nodes from the variables to y, inputs narrowed", () => {
  const t = (id: number) => ({ id }) as Tensor;
  const tape: TapeNode[] = [
    { id: 0, kernelName: "A", inputs: { a: t(1), b: t(2) }, outputs: [t(3)] }, // x(1) → 3
    { id: 1, kernelName: "B", inputs: { a: t(2) }, outputs: [t(4)] }, // constant only
    { id: 2, kernelName: "C", inputs: { a: t(3), b: t(4) }, outputs: [t(5)] }, // → y
    { id: 3, kernelName: "D", inputs: { a: t(3) }, outputs: [t(6)] }, // does not reach y
  ];
  const kept = nodesBetween(tape, [t(1)], t(5));
  assert.deepEqual(kept.map((n) => n.kernelName), ["A", "C"]);
  assert.deepEqual(Object.keys(kept[0]!.inputs), ["a"]);
  assert.deepEqual(Object.keys(kept[1]!.inputs), ["a"]);
});

Deno.test("one gradient tensor handed to two inputs, one of them already with a gradient, stays alive", async () => {
  const a = tf.variable(tf.ones([2])), b = tf.variable(tf.ones([2]));
  // Both inputs get the same new tensor; `a` already has a gradient from `3a`.
  const twin = tf.customGrad((x, y, _save) => ({
    value: tf.add(x as Tensor, y as Tensor),
    gradFunc: (dy: Tensor | Tensor[]) => {
      const g = tf.mul(dy as Tensor, 2);
      return [g, g];
    },
  }));
  const f = () => tf.sum(tf.add(twin(a, b), tf.mul(a, 3))) as tf.Scalar;
  const lean = leanVariableGrads(f, [a, b]);
  assert.deepEqual(Array.from(await lean.grads[a.name]!.data()), [5, 5]);
  assert.deepEqual(Array.from(await lean.grads[b.name]!.data()), [2, 2]);
  tf.dispose([a, b, lean.value, ...Object.values(lean.grads)]);
});

Deno.test("a refused loss leaves the tensors f was given alone", () => {
  const v = tf.variable(tf.ones([2]));
  const outer = tf.scalar(4), vector = tf.ones([3]);
  assert.throws(() => leanVariableGrads(() => outer, [v]), /Cannot find a connection/);
  assert.throws(() => leanVariableGrads(() => vector as tf.Scalar, [v]), /must return a scalar/);
  assert.ok(!outer.isDisposed && !vector.isDisposed);
  tf.dispose([v, outer, vector]);
});

Deno.test("a gradient function handing on a saved tensor gives the caller a live gradient", async () => {
  const v = tf.variable(tf.tensor1d([3, -1]));
  // ½·a² with the gradient `a` itself: the saved clone of the input.
  const halfSquare = tf.customGrad((a, save) => {
    (save as tf.GradSaveFunc)([a as Tensor]);
    return {
      value: tf.mul(tf.square(a as Tensor), 0.5),
      gradFunc: (_dy: Tensor | Tensor[], saved: Tensor[]) => saved[0]!,
    };
  });
  const out = leanVariableGrads(() => tf.sum(halfSquare(v)) as tf.Scalar, [v]);
  assert.deepEqual(Array.from(await out.grads[v.name]!.data()), [3, -1]);
  tf.dispose([v, out.value, ...Object.values(out.grads)]);
});
