/**
 * The step's gradients over micro-batches (`core/step_gradients.ts`): with
 * `train.gradient_cache`, CLIP's loss and gradients are those of the whole
 * step's samples — equal to one tape over every micro-batch's forward pass
 * (patch dropout, stochastic depth and batch norm included: the second pass
 * repeats the first's draws and statistics), and to one big batch where
 * nothing is random — while the default averages each micro-batch's own.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { batchValues, compileGraph } from "./graph.ts";
import type { GraphSpec, NodeSpec } from "./graph_spec.ts";
import { stepContext, type StepParts } from "./step_parts.ts";
import { type MicroBatch, stepGradients } from "./step_gradients.ts";
import { MemorySource, testRegistries, testTrainConfig } from "./testing.ts";
import { teacherEntry } from "./momentum_teacher.ts";
import { lossEntries } from "../losses/entries.ts";
import { Trainer } from "./trainer.ts";
import type { TrainConfig } from "./train_config.ts";
import type { Tensor } from "./tensor.ts";
import type { NodeValue } from "./types.ts";
import { assertClose } from "../kernels/testing.ts";

const source = new MemorySource({ size: 64, shape: [8, 8, 1], classes: 4 });

function node(name: string, kind: string, inputs: string[], params: unknown): NodeSpec {
  return { name, kind, inputs, phase: "all", params };
}

/** CLIP between a ViT (noisy or not, a batch-norm head or not) and a caption code. */
function spec(noisy: boolean, locked = false): GraphSpec {
  const head = { activation: "gelu", bias: true, norm: noisy ? "batch" : "none" };
  return {
    nodes: [
      ...(locked ? [node("teacher", "ema", ["image"], { of: "proj", decay: 0.9 })] : []),
      ...[node("image", "vit", ["batch.image"], {
        preset: "tiny",
        patch: 4,
        dim: 16,
        depth: 2,
        heads: 2,
        ...(noisy && { patch_dropout: 0.5, drop_path: 0.5 }),
      })].map((n) => locked ? { ...n, freeze: true } : n),
      node("proj", "mlp", ["image"], { layers: [16, 8], ...head }),
      node("text", "caption_code", ["batch.caption"], {}),
      node("tproj", "mlp", ["text"], { layers: [8], ...head }),
      node("scale", "logit_scale", [], { init: 1, clamp: [0, 4.6], learnable: true }),
    ],
    losses: [
      {
        name: "clip",
        kind: "clip",
        inputs: { image: "proj", text: "tproj", logit_scale: "scale" },
        weight: 1,
        params: lossEntries.find((e) => e.kind === "clip")!.schema.parse({}),
      },
      ...(locked
        ? [{
          name: "distill",
          kind: "prediction",
          inputs: { pred: "proj", target: "teacher" },
          weight: 0.5,
          params: {},
        }]
        : []),
    ],
    locate: (path) => ({ file: "r.yaml", line: path.length, column: 3 }),
  };
}

async function build(noisy: boolean, locked = false) {
  const registries = testRegistries();
  registries.losses.register(lossEntries.find((e) => e.kind === "clip")!);
  registries.modules.register(teacherEntry);
  return await compileGraph(spec(noisy, locked), {
    registries,
    seed: 3,
    cacheDir: "/tmp",
    sampleBatch: (n) =>
      source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
  });
}

function parts(
  graph: Awaited<ReturnType<typeof build>>,
  config: TrainConfig,
  locked = false,
): StepParts {
  const params = graph.parameters(0);
  return {
    graph,
    optimizer: { step: 0 },
    params,
    byVariable: new Map(params.map((p) => [p.variable.name, p.name])),
    lossTargets: ["proj", "tproj", "scale", ...(locked ? ["teacher"] : [])],
    active: new Set(["clip", ...(locked ? ["distill"] : [])]),
    config,
    seed: 7,
    learningRate: () => 1e-3,
  } as unknown as StepParts;
}

/** Micro-batches 0 … n−1 of 8 samples with step 0's contexts. */
async function micro(n: number): Promise<MicroBatch[]> {
  return await Promise.all(Array.from({ length: n }, async (_, m) => ({
    values: batchValues(
      await source.batch("train", m, { batchSize: 8, seed: 0, shuffle: false, dropLast: true }),
    ),
    ctx: stepContext(0, 7, m),
  })));
}

/** Asserts the cached step's losses and gradients equal one tape over every micro-batch's pass. */
async function assertOneTape(noisy: boolean, locked: boolean): Promise<Map<string, number>> {
  await tf.setBackend("cpu");
  const graph = await build(noisy, locked);
  const p = parts(
    graph,
    testTrainConfig({ batch: 8, accumulate: 3, gradient_cache: true }),
    locked,
  );
  const batches = await micro(3);
  const joinedInputs = ["proj", "tproj", ...(locked ? ["teacher"] : [])];
  // The reference: every micro-batch's forward pass on one tape, joined, one loss.
  let refLosses: Tensor | undefined;
  const reference = tf.variableGrads(() => {
    const outs = batches.map(({ values, ctx }) => {
      const copy = new Map<string, NodeValue>(values);
      graph.forward(copy, ctx, p.lossTargets);
      return copy;
    });
    const joined = new Map<string, NodeValue>([
      ...joinedInputs.map((r) => [r, tf.concat(outs.map((o) => o.get(r) as Tensor))] as const),
      ["scale", outs[0]!.get("scale")!],
    ]);
    const { total, terms } = graph.losses(joined, batches[0]!.ctx, p.active);
    refLosses = tf.keep(tf.stack([total, ...terms.values()]));
    return total;
  }, p.params.map((x) => x.variable));
  // Forward passes per node during the cached step.
  const calls = new Map<string, number>();
  for (const [name, module] of graph.modules) {
    const forward = module.forward.bind(module);
    module.forward = (inputs, ctx) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return forward(inputs, ctx);
    };
  }
  const before = tf.memory().numTensors;
  const { grads, losses } = stepGradients(p, batches);
  assert.equal(tf.memory().numTensors, before + grads.size + 1, "only the results stay");
  assertClose(await losses.data(), await refLosses!.data(), "losses", { atol: 1e-6, rtol: 1e-6 });
  assert.equal(grads.size, p.params.length);
  for (const x of p.params) {
    const got = await grads.get(x.name)!.data();
    const want = await reference.grads[x.variable.name]!.data();
    assertClose(got, want, x.name, { atol: 1e-6, rtol: 1e-4 });
  }
  tf.dispose([losses, refLosses!, reference.value, ...grads.values()]);
  tf.dispose(Object.values(reference.grads));
  tf.dispose(batches.map((b) => b.values.get("batch.label") as Tensor));
  graph.dispose();
  return calls;
}

Deno.test("gradient cache: CLIP's gradients are one tape over every micro-batch (patch dropout, drop path, batch norm)", async () => {
  const calls = await assertOneTape(true, false);
  assert.equal(calls.get("image"), 6, "the trained tower: twice per micro-batch");
});

Deno.test("gradient cache: a locked tower and a momentum teacher run once per micro-batch, still exact", async () => {
  const calls = await assertOneTape(true, true);
  assert.equal(calls.get("image"), 3, "the frozen tower's first-pass outputs stand");
  assert.equal(calls.get("teacher"), 3, "so do the teacher's");
  assert.equal(calls.get("proj"), 6, "the trained head runs again (its batch norm records then)");
});

Deno.test("gradient cache: 2 × 8 trains as one batch of 16; averaging 2 × 8 does not", async () => {
  await tf.setBackend("cpu");
  const run = async (over: Partial<TrainConfig>) => {
    const graph = await build(false);
    const trainer = new Trainer(graph, source, { config: testTrainConfig(over), seed: 3 });
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) losses.push((await trainer.step(step)).loss);
    const params = await Promise.all(graph.parameters().map((q) => q.variable.data()));
    graph.dispose();
    return { losses, params };
  };
  const whole = await run({ batch: 16, accumulate: 1 });
  const cached = await run({ batch: 8, accumulate: 2, gradient_cache: true });
  const averaged = await run({ batch: 8, accumulate: 2 });
  assertClose(cached.losses, whole.losses, "losses", { atol: 1e-5, rtol: 1e-5 });
  whole.params.forEach((w, i) => assertClose(cached.params[i]!, w, `param ${i}`));
  // Each micro-batch on its own has 7 negatives, not 15: a smaller loss, another update.
  assert.ok(averaged.losses[0]! < whole.losses[0]! - 0.3, `${averaged.losses} vs ${whole.losses}`);
});
