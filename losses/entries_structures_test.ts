import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { LossTerm } from "../core/components.ts";
import type { ForwardContext } from "../core/types.ts";
import { brownianBridgeLoss } from "./brownian_bridge.ts";
import { l2Normalize } from "./common.ts";
import { contrastive4Loss } from "./contrastive4.ts";
import { structureLossEntries } from "./entries_structures.ts";
import { featureSeparationLoss } from "./feature_separation.ts";
import { geometricConsistencyLoss } from "./geometric_consistency.ts";
import { cyclipLoss } from "./cyclip.ts";
import { close, gaussian, read } from "./testing.ts";

await tf.setBackend("cpu");

const entry = (kind: string) => structureLossEntries.find((e) => e.kind === kind)!;
const parse = (kind: string, params: unknown = {}) => entry(kind).schema.parse(params);
const build = (kind: string, params: unknown = {}): LossTerm =>
  entry(kind).create(parse(kind, params));
const ctx: ForwardContext = { training: true, step: 0, seed: 1 };

Deno.test("structure entries: kinds, roles, defaults and strict schemas", () => {
  assert.deepEqual(structureLossEntries.map((e) => e.kind), [
    "contrastive4",
    "feature_separation",
    "brownian_bridge",
    "geometric_consistency",
    "cyclip",
  ]);
  assert.deepEqual(parse("contrastive4"), { normalize: true, scale: 1 / 0.07 });
  assert.deepEqual(parse("feature_separation"), {
    normalize: true,
    scale: 1 / 0.07,
    t: 2,
    ortho_weight: 1,
    contrastive_weight: 1,
    uniformity_weight: 1,
  });
  assert.deepEqual(parse("brownian_bridge"), { normalize: true, t: 0.25 });
  assert.deepEqual(parse("geometric_consistency"), {
    normalize: true,
    plain_weight: 1,
    augmented_weight: 1,
  });
  assert.deepEqual(parse("cyclip"), {
    normalize: true,
    in_modal_weight: 0.25,
    cross_modal_weight: 0.25,
  });
  for (
    const [kind, bad] of [
      ["contrastive4", { weight_v2v: 1 }],
      ["cyclip", { lambda: 0.25 }],
      ["cyclip", { cross_modal_weight: -1 }],
      ["feature_separation", { ortho_weight: -1 }],
      ["feature_separation", { t: "two" }],
      ["brownian_bridge", { t: 1.5 }],
      ["brownian_bridge", { sigma: 1 }],
      ["geometric_consistency", { augmented_weight: -0.1 }],
    ] as const
  ) {
    assert.equal(
      entry(kind).schema.safeParse(bad).success,
      false,
      `${kind} ${JSON.stringify(bad)}`,
    );
  }
  assert.deepEqual(build("contrastive4").roles, ["image", "text", "logit_scale?", "groups?"]);
  assert.deepEqual(build("feature_separation").roles, [
    "image",
    "text",
    "image_ind",
    "text_ind",
    "logit_scale?",
  ]);
  assert.deepEqual(build("brownian_bridge").roles, ["image", "text"]);
  assert.deepEqual(build("geometric_consistency").roles, ["image", "text"]);
  assert.deepEqual(build("cyclip").roles, ["image", "text"]);
});

Deno.test("cyclip entry: normalised inputs, its weights, the mean over image views", () => {
  const [views, text] = [gaussian([2, 5, 4], 11), gaussian([5, 4], 12)];
  const [uv, ut] = [l2Normalize(views), l2Normalize(text)];
  const at = (x: tf.Tensor, v: number) =>
    tf.squeeze(tf.slice(x, [v, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
  const weights = { inModalWeight: 0.5, crossModalWeight: 2 };
  const params = { in_modal_weight: 0.5, cross_modal_weight: 2 };
  const perView = [0, 1].map((v) => read(cyclipLoss(at(uv, v), ut as tf.Tensor2D, weights)));
  close(
    read(build("cyclip", params).fn({ image: views, text }, ctx)),
    (perView[0]! + perView[1]!) / 2,
  );
  close(
    read(build("cyclip").fn({ image: at(views, 0), text }, ctx)),
    read(cyclipLoss(at(uv, 0), ut as tf.Tensor2D, { inModalWeight: 0.25, crossModalWeight: 0.25 })),
  );
  assert.throws(
    () => build("cyclip").fn({ image: views, text: gaussian([4, 4], 1) }, ctx),
    /loss cyclip: image \[2, 5, 4\] and text \[4, 4\] do not match/,
  );
  tf.dispose([views, text, uv, ut]);
});

Deno.test("structure entries normalise their inputs and pass their params through", () => {
  const [image, text, imageInd, textInd] = [
    gaussian([2, 5, 4], 1),
    gaussian([5, 4], 2),
    gaussian([2, 5, 4], 3),
    gaussian([5, 4], 4),
  ];
  const theta = tf.scalar(1.2);
  const [ui, ut, uii, uti] = [image, text, imageInd, textInd].map(l2Normalize);
  close(
    read(build("contrastive4").fn({ image, text, logit_scale: theta }, ctx)),
    read(contrastive4Loss(ui!, ut!, { scale: Math.exp(1.2) })),
  );
  close(
    read(build("contrastive4", { scale: 3 }).fn({ image, text }, ctx)),
    read(contrastive4Loss(ui!, ut!, { scale: 3 })),
  );
  const params = { t: 1, ortho_weight: 2, contrastive_weight: 0.5, uniformity_weight: 0.25 };
  close(
    read(
      build("feature_separation", params).fn({
        image,
        text,
        image_ind: imageInd,
        text_ind: textInd,
      }, ctx),
    ),
    read(
      featureSeparationLoss({ image: ui!, text: ut! }, { image: uii!, text: uti! }, {
        scale: 1 / 0.07,
        t: 1,
        orthoWeight: 2,
        contrastiveWeight: 0.5,
        uniformityWeight: 0.25,
      }),
    ),
    1e-4,
  );
  close(
    read(build("brownian_bridge", { t: 0.5 }).fn({ image, text }, ctx)),
    read(brownianBridgeLoss(ui!, ut!, { t: 0.5 })),
  );
  close(
    read(build("geometric_consistency", { plain_weight: 0 }).fn({ image, text }, ctx)),
    read(geometricConsistencyLoss(ui!, ut!, { plainWeight: 0 })),
  );
  const raw = build("geometric_consistency", { normalize: false }).fn({ image, text }, ctx);
  close(read(raw), read(geometricConsistencyLoss(image, text)), 1e-4);
  tf.dispose([image, text, imageInd, textInd, theta, ui!, ut!, uii!, uti!]);
});

Deno.test("structure entries: errors name the role, the shapes and the expectation", () => {
  const [one, two, bad] = [tf.zeros([4, 3]), tf.zeros([2, 4, 3]), tf.zeros([4, 5])];
  assert.throws(
    () => build("contrastive4").fn({ image: one, text: one }, ctx),
    /image \[4, 3\] and text \[4, 3\].*\[2, B, D\]/,
  );
  assert.throws(
    () => build("brownian_bridge").fn({ image: two, text: bad }, ctx),
    /image \[2, 4, 3\] and text \[4, 5\]/,
  );
  assert.throws(
    () => build("feature_separation").fn({ image: two, text: one, image_ind: two }, ctx),
    /input "text_ind" must be a tensor, got nothing/,
  );
  assert.throws(
    () => build("geometric_consistency").fn({ image: two, text: ["a"] }, ctx),
    /input "text" must be a tensor, got a list of 1 values/,
  );
  tf.dispose([one, two, bad]);
});

Deno.test("structure entries leave no tensors behind, forward and backward", () => {
  const [image, text, imageInd, textInd, theta] = [
    gaussian([2, 6, 4], 5),
    gaussian([6, 4], 6),
    gaussian([2, 6, 4], 7),
    gaussian([6, 4], 8),
    tf.scalar(1),
  ];
  const terms = structureLossEntries.map((e) => build(e.kind));
  const total = (i: tf.Tensor, t: tf.Tensor, ii: tf.Tensor, ti: tf.Tensor, th: tf.Tensor) =>
    tf.tidy(() =>
      tf.addN([
        terms[0]!.fn({ image: i, text: t, logit_scale: th }, ctx),
        terms[1]!.fn({ image: i, text: t, image_ind: ii, text_ind: ti, logit_scale: th }, ctx),
        terms[2]!.fn({ image: i, text: t }, ctx),
        terms[3]!.fn({ image: i, text: t }, ctx),
        terms[4]!.fn({ image: i, text: t }, ctx),
      ]) as tf.Scalar
    );
  const inputs = [image, text, imageInd, textInd, theta];
  const before = tf.memory().numTensors;
  tf.dispose(total(image, text, imageInd, textInd, theta));
  const grads = tf.grads(total)(inputs);
  grads.forEach((g) => assert.ok(g.dataSync().every(Number.isFinite)));
  tf.dispose(grads);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(inputs);
});
