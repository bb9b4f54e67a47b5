import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { PrototypeHead } from "./prototype_head.ts";

await tf.setBackend("cpu");
const run = { training: true, step: 0, seed: 0 };

Deno.test("prototypes: cosine logits against weight-normalised columns (hand-computed)", () => {
  const head = new PrototypeHead({ inDim: 2, prototypes: 3 }, { name: "proto", seed: 1 });
  assert.deepEqual(head.parameters.map((p) => [p.name, p.variable.shape, p.decay]), [
    ["proto.prototypes", [2, 3], false],
  ]);
  // Prototypes (columns): (3, 0), (1, 1), (0, -0.5) → unit (1, 0), (1, 1)/√2, (0, -1).
  head.parameters[0]!.variable.assign(tf.tensor2d([[3, 1, 0], [0, 1, -0.5]]));
  const before = tf.memory().numTensors;
  const out = tf.tidy(() =>
    head.forward([tf.tensor2d([[2, 0], [0, 4], [-1, -1]])], run) as tf.Tensor
  );
  const s = Math.SQRT1_2;
  const expected = [[1, s, 0], [0, s, -1], [-s, -1, s]];
  (out.arraySync() as number[][]).flat().forEach((v, i) =>
    assert.ok(Math.abs(v - expected.flat()[i]!) < 1e-6, `logit ${i}: ${v}`)
  );
  out.dispose();
  assert.equal(tf.memory().numTensors, before);
  head.dispose();
});

Deno.test("prototypes: [V, B, D] → [V, B, Kp] in [-1, 1], scale-invariant, gradients flow", () => {
  const head = new PrototypeHead({ inDim: 8, prototypes: 64 }, { name: "proto", seed: 2 });
  tf.tidy(() => {
    const x = tf.randomNormal([2, 5, 8], 0, 1, "float32", 3);
    const a = head.forward([x], run) as tf.Tensor;
    assert.deepEqual(a.shape, [2, 5, 64]);
    assert.ok((tf.max(tf.abs(a)).arraySync() as number) <= 1 + 1e-6);
    const b = head.forward([tf.mul(x, 37)], run) as tf.Tensor;
    assert.ok((tf.max(tf.abs(tf.sub(a, b))).arraySync() as number) < 1e-5, "input norm ignored");
    // Scaling a prototype column does not change the logits either.
    const v = head.parameters[0]!.variable;
    const saved = v.clone();
    v.assign(tf.mul(v, 5));
    const c = head.forward([x], run) as tf.Tensor;
    assert.ok((tf.max(tf.abs(tf.sub(a, c))).arraySync() as number) < 1e-5, "weight norm");
    v.assign(saved);
    const { value, grads } = tf.variableGrads(() =>
      tf.sum(tf.square(head.forward([x], run) as tf.Tensor)) as tf.Scalar
    );
    assert.ok(value.arraySync() > 0);
    const g = grads[v.name]!;
    assert.ok((tf.max(tf.abs(g)).arraySync() as number) > 0);
    // The gradient of a weight-normalised column is orthogonal to the column.
    const radial = tf.sum(tf.mul(g, v), 0).arraySync() as number[];
    assert.ok(radial.every((r) => Math.abs(r) < 1e-4), `radial components ${radial.slice(0, 3)}`);
  });
  head.dispose();
});
