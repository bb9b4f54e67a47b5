/**
 * The ViT training step of the PyTorch anchor (`shared/anchors/torch_vit_step.py`),
 * built from novalab's own parts: pre-LN ViT with biases and final norm, a
 * linear projection of the CLS token, L2 normalisation, MSE to fixed random
 * targets, Adam (AdamW with zero decay). Timed over `steps` after warm-up.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { AdamW } from "../core/optim.ts";
import { applyLinear, createLinear, ParameterStore } from "../models/layers.ts";
import { l2Normalize } from "../models/simple.ts";
import { VisionTransformer } from "../models/vit.ts";
import type { Scalar, Tensor } from "../core/tensor.ts";

/** Shape of the benchmarked model and batch (the anchor's flags). */
export interface VitStepOptions {
  /** Images per step. */
  batch: number;
  /** Image side in pixels. */
  img: number;
  /** Patch side. */
  patch: number;
  /** Embedding width. */
  dim: number;
  /** Blocks. */
  depth: number;
  /** Heads. */
  heads: number;
  /** Output projection width. */
  out: number;
  /** Timed steps (after 2 warm-up steps). */
  steps: number;
}

/** Timing of the benchmark. */
export interface VitStepResult {
  /** Mean milliseconds per step. */
  msPerStep: number;
  /** Images per second. */
  imagesPerSecond: number;
  /** Final loss (sanity). */
  loss: number;
  /** Tensors alive before and after the timed steps (must be equal). */
  tensors: [number, number];
}

/** Runs the anchor's ViT step on the active tfjs backend. */
export async function benchVitStep(o: VitStepOptions): Promise<VitStepResult> {
  const vit = new VisionTransformer(
    { patch: o.patch, dim: o.dim, depth: o.depth, heads: o.heads, mlpRatio: 4, activation: "relu" },
    { height: o.img, width: o.img, channels: 3 },
    { name: "vit", seed: 0 },
  );
  const store = new ParameterStore("proj", 1);
  const proj = createLinear(store, "head", { inDim: o.dim, outDim: o.out });
  const params = [...vit.parameters, ...store.parameters];
  const optimizer = new AdamW(params, { weightDecay: 0 });
  const images = tf.randomNormal([o.batch, o.img, o.img, 3], 0, 1, "float32", 2);
  const target = l2Normalize(tf.randomNormal([o.batch, o.out], 0, 1, "float32", 3));
  const ctx = { training: true, step: 0, seed: 0 };
  const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
  const step = async (): Promise<number> => {
    const { value, grads } = tf.variableGrads(() => {
      const z = l2Normalize(applyLinear(proj, vit.forward([images], ctx) as Tensor));
      return tf.mean(tf.square(tf.sub(z, target))) as Scalar;
    }, params.map((p) => p.variable));
    optimizer.apply(new Map(Object.entries(grads).map(([k, g]) => [byVar.get(k)!, g])), 1e-4);
    const loss = (await value.data())[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  for (let i = 0; i < 2; i++) await step();
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  let loss = NaN;
  for (let i = 0; i < o.steps; i++) loss = await step();
  const ms = (performance.now() - t0) / o.steps;
  const after = tf.memory().numTensors;
  tf.dispose([images, target]);
  optimizer.dispose();
  vit.dispose();
  store.parameters.forEach((p) => p.variable.dispose());
  return { msPerStep: ms, imagesPerSecond: (o.batch / ms) * 1000, loss, tensors: [before, after] };
}
