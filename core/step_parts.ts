/**
 * The pieces of a training step shared by its two forms: the micro-step
 * (forward, losses, gradients) and the forward context. The step's gradients
 * over its micro-batches are `core/step_gradients.ts`; the host-checked step
 * (WASM, CPU, stock kernels) `core/host_checked_step.ts`, the device form,
 * replayable, `core/device_step.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { leanVariableGrads } from "./lean_gradients.ts";
import { disposeValues } from "./graph.ts";
import type { CompiledGraph } from "./graph_run.ts";
import type { AdamW } from "./optim.ts";
import { deriveSeed } from "./rng.ts";
import type { TrainConfig } from "./train_config.ts";
import type { ForwardContext, NodeValue, Parameter, UpdateProgress } from "./types.ts";
import type { Scalar, Tensor } from "./tensor.ts";
import { refuseRecording } from "./host_value.ts";
import type { WeightAverage } from "./weight_average.ts";

/** What a step needs from the trainer. */
export interface StepParts {
  graph: CompiledGraph;
  optimizer: AdamW;
  params: Parameter[];
  /** Variable name → parameter name. */
  byVariable: Map<string, string>;
  /** The graph values the active losses need. */
  lossTargets: string[];
  /** Names of the active loss terms. */
  active: Set<string>;
  config: TrainConfig;
  seed: number;
  /** The learning rate of a step. */
  learningRate: (step: number) => number;
  /** The weight average (`train.ema`), moved after every applied update. */
  average?: WeightAverage;
}

/**
 * The context of micro-step `micro` of `step`, in the training phase that
 * began at `phase` (`CompiledGraph.phaseStart`; default 0). Reading its
 * `step` while a step is recorded keeps the step from being replayed (a
 * replay could not follow what the node did with it).
 */
export function stepContext(
  step: number,
  seed: number,
  micro: number,
  progress?: UpdateProgress,
  phase = 0,
): ForwardContext {
  return {
    training: true,
    micro,
    phase,
    seed: deriveSeed(seed, "step", step, micro),
    ...(progress && { progress }),
    get step() {
      refuseRecording("a node read ctx.step (its work may change from step to step)");
      return step;
    },
  };
}

/**
 * Forward, losses and gradients of one micro-batch (`values`: the graph's
 * batch values), added into `sums` (gradient per parameter name). Returns the
 * losses `[total, ...terms]` (kept: the caller disposes). Disposes the node
 * outputs, not the batch's own tensors.
 */
export function accumulateGradients(
  parts: StepParts,
  values: Map<string, NodeValue>,
  ctx: ForwardContext,
  sums: Map<string, Tensor>,
): Tensor {
  let kept: Tensor | undefined;
  addMicroGradients(parts, values, ctx, sums, () => {
    const { total, terms } = parts.graph.losses(values, ctx, parts.active);
    // A fresh tensor, not a clone: clones made under the gradient tape lose
    // their data on tfjs-backend-webgpu 4.22 once the tape is released.
    kept = tf.keep(tf.stack([total, ...terms.values()]));
    return total;
  });
  return kept!;
}

/**
 * The forward pass of one micro-batch towards the active losses' inputs,
 * then the gradients of `objective` (called on the gradient tape after the
 * forward pass, reading `values`) added into `sums`. Disposes the node
 * outputs, not the batch's own tensors.
 */
export function addMicroGradients(
  parts: StepParts,
  values: Map<string, NodeValue>,
  ctx: ForwardContext,
  sums: Map<string, Tensor>,
  objective: () => Scalar,
): void {
  const own = new Set(values.values());
  let grads: tf.NamedTensorMap;
  try {
    // Nodes no trained parameter reaches run first, off the gradient tape, each in its own
    // scope: a node's intermediate tensors die when it finishes instead of living until the
    // backward pass (a frozen tower's activations, a teacher's, the views').
    for (const name of gradientFreeNodes(parts)) {
      tf.tidy(() => {
        parts.graph.forward(values, ctx, [name]);
        const out = values.get(name);
        return out instanceof tf.Tensor ? out : undefined;
      });
    }
    // The backward pass frees each node's gradients and saved tensors as it goes.
    const taped = leanVariableGrads(() => {
      parts.graph.forward(values, ctx, parts.lossTargets);
      return objective();
    }, parts.params.map((p) => p.variable));
    taped.value.dispose();
    grads = taped.grads;
  } finally {
    // The node outputs (those made off the tape outlive it), on success or failure.
    disposeValues(new Map([...values].filter(([, v]) => !own.has(v))));
  }
  for (const [varName, g] of Object.entries(grads)) {
    const name = parts.byVariable.get(varName)!;
    const prev = sums.get(name);
    sums.set(name, prev ? tf.tidy(() => tf.add(prev, g)) : g);
    if (prev) {
      prev.dispose();
      g.dispose();
    }
  }
}

const freeNodes = new WeakMap<Parameter[], Map<string, string[]>>();

/**
 * The nodes the active losses need whose outputs no trained parameter reaches
 * (`CompiledGraph.gradientFree`), cached per parameter list (a training phase)
 * and loss targets.
 */
export function gradientFreeNodes(parts: StepParts): string[] {
  const byTargets = freeNodes.get(parts.params) ?? new Map<string, string[]>();
  freeNodes.set(parts.params, byTargets);
  const key = parts.lossTargets.join("\u0000");
  let free = byTargets.get(key);
  if (!free) {
    const trained = new Set<object>(parts.params.map((p) => p.variable));
    free = parts.graph.gradientFree(trained, parts.lossTargets);
    byTargets.set(key, free);
  }
  return free;
}
