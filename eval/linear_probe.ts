/**
 * Linear probe: multinomial logistic regression on frozen image features
 * (standardised with the training features' statistics), with the weight
 * decay λ chosen on a validation split by a sweep; the probe trained on the
 * training part with the best λ is scored on the test split.
 *
 * Validation: the source's `val` split when `val` names one, else a seeded
 * `val_fraction` of the training samples read.
 *
 * Few-shot (`shots: K`, CLIP's few-shot linear probes): each of `repeats`
 * probes trains on K samples per class drawn from the training samples
 * outside validation (`eval/few_shot.ts`); `top1` is their mean test top-1,
 * `top1_std` the spread over draws (with more than one).
 *
 * @module
 */
import { z } from "zod";
import type { Evaluator, EvaluatorFactory, InferenceModel, Metrics } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { nonNegative, positiveInt } from "../core/schema.ts";
import { Rng, shuffle } from "../core/rng.ts";
import type { DataSource } from "../core/types.ts";
import { topKHits, weightedMean } from "./classification.ts";
import { embedSplit } from "./features.ts";
import { type Matrix, selectRows } from "./linalg.ts";
import { featureStats, fitLogistic, logisticScores, standardize } from "./logistic.ts";
import { drawShots } from "./few_shot.ts";
import { mean, sampleStd } from "../report/stats.ts";

/** Parameters of the `linear_probe` evaluator (after validation and defaults). */
export interface LinearProbeParams {
  /** Node whose output `[B, D]` is the frozen feature (e.g. the image embedding). */
  image: string;
  /** Split the probe is trained on (default `"train"`). */
  train: string;
  /** Split it is scored on (default `"test"`). */
  split: string;
  /** Validation split; absent: hold out `val_fraction` of the training samples. */
  val?: string;
  /** Fraction of training samples held out for validation (default 0.1). */
  val_fraction: number;
  /** Training samples read from the start of `train` (default 10000). */
  train_limit: number;
  /** Test samples read (default: all). */
  limit?: number;
  /** λ values swept (default `[0, 1e-4, 1e-3, 1e-2, 1e-1]`). */
  weight_decays: number[];
  /** `lbfgs` (absent) or `adam`. */
  solver?: "lbfgs" | "adam";
  /** L-BFGS iterations at most (absent: 1000). */
  max_iter?: number;
  /** Adam: full-batch steps per fit (default 300). */
  steps: number;
  /** Adam: initial step size (default 0.05). */
  lr: number;
  /** Seed of the validation hold-out and of the few-shot draws (default 0). */
  seed: number;
  /** Samples per forward call (default 256). */
  batch: number;
  /** Few-shot: labelled training samples per class (absent: every one read). */
  shots?: number;
  /** Few-shot draws averaged (absent: 5 with `shots`). */
  repeats?: number;
}

const schema = z.strictObject({
  image: z.string().min(1).describe(
    "Node whose output `[B, D]` is the frozen feature (e.g. the image embedding).",
  ),
  train: z.string().min(1).default("train").describe("Split the probe is trained on."),
  split: z.string().min(1).default("test").describe("Split it is scored on."),
  val: z.string().min(1).optional().describe(
    "Validation split (absent: hold out `val_fraction` of the training samples).",
  ),
  val_fraction: z.number().gt(0).lt(1).default(0.1).describe(
    "Fraction of training samples held out for validation.",
  ),
  train_limit: positiveInt().default(10000).describe(
    "Training samples read from the start of `train`.",
  ),
  limit: positiveInt().optional().describe("Test samples read (absent: all)."),
  weight_decays: z.array(nonNegative()).min(1).default([0, 1e-4, 1e-3, 1e-2, 1e-1]).describe(
    "Weight decays λ swept; the probe with the best λ on validation is scored.",
  ),
  solver: z.enum(["lbfgs", "adam"]).optional().describe(
    "`lbfgs` (absent): L-BFGS until the gradient's largest entry is ≤ 1e-4 or `max_iter` " +
      "(CLIP's protocol); `adam`: `steps` of full-batch Adam (the fit before 2026-11-25).",
  ),
  max_iter: positiveInt().optional().describe("L-BFGS iterations at most (absent: 1000)."),
  steps: positiveInt().default(300).describe("Full-batch Adam steps per fit (`solver: adam`)."),
  lr: z.number().positive().default(0.05).describe("Initial Adam step size (`solver: adam`)."),
  seed: z.number().int().default(0).describe(
    "Seed of the validation hold-out and of the few-shot draws.",
  ),
  batch: positiveInt().default(256).describe("Samples per forward call."),
  shots: positiveInt().optional().describe(
    "Few-shot probe: train on this many labelled samples per class, drawn (seeded) from the " +
      "training samples outside validation; λ is still chosen on validation (absent: every " +
      "training sample read).",
  ),
  repeats: positiveInt().optional().describe(
    "Few-shot draws: `top1` is the mean test top-1 of this many probes on different shots, " +
      "`top1_std` their spread (absent: 5; needs `shots`).",
  ),
}).refine((p) => p.repeats === undefined || p.shots !== undefined, {
  message: "repeats needs shots (the number of labelled samples per class of each draw)",
  path: ["repeats"],
}).refine((p) => p.split !== p.train, {
  message: "split names the training split: the probe would be scored on samples it was " +
    "trained on; score another split (test, val)",
  path: ["split"],
}).refine((p) => p.val === undefined || p.val !== p.train, {
  message: "val names the training split: validation must be other samples (leave val out to " +
    "hold out val_fraction of the training samples)",
  path: ["val"],
});

/** Labelled features. */
export interface Features {
  /** `[N, D]`. */
  x: Matrix;
  /** `[N]` labels ≥ 0. */
  y: Int32Array;
}

/** Rows of `f` at `indices`. */
function subset(f: Features, indices: ArrayLike<number>): Features {
  return { x: selectRows(f.x, indices), y: Int32Array.from(indices, (i) => f.y[i]!) };
}

/** Drops unlabelled samples. */
function labelledOnly(x: Matrix, labels: Int32Array): Features {
  return subset({ x, y: labels }, [...labels.keys()].filter((i) => labels[i]! >= 0));
}

/** Splits `f` into a training part and a seeded held-out `fraction`. */
export function holdOut(
  f: Features,
  options: { fraction: number; seed: number },
): [Features, Features] {
  const order = Int32Array.from({ length: f.y.length }, (_, i) => i);
  shuffle(order, new Rng(options.seed));
  const held = Math.max(1, Math.round(f.y.length * options.fraction));
  if (held >= f.y.length) {
    throw new Error(
      `linear_probe: ${f.y.length} training samples leave none after holding out ` +
        `${held} for validation; raise train_limit or lower val_fraction`,
    );
  }
  return [subset(f, order.subarray(held)), subset(f, order.subarray(0, held))];
}

/** Result of {@link sweepWeightDecay}. */
export interface ProbeResult {
  /** The λ with the best validation accuracy (the smallest on ties). */
  weightDecay: number;
  /** Validation top-1 per λ, in sweep order. */
  validation: number[];
  /** Test top-1 of the probe with the chosen λ. */
  test: number;
  /** Whether the chosen probe's fit converged (L-BFGS; Adam: undefined). */
  converged?: boolean;
}

/**
 * Trains one probe per λ on `train`, picks λ by `val` top-1, scores `test`.
 * Features are standardised with the training part's statistics.
 */
export async function sweepWeightDecay(
  data: { train: Features; val: Features; test: Features; classes: number },
  options: {
    weightDecays: number[];
    solver?: "lbfgs" | "adam";
    maxIterations?: number;
    steps: number;
    lr: number;
  },
): Promise<ProbeResult> {
  const stats = featureStats(data.train.x);
  const [train, val, test] = [data.train, data.val, data.test].map((f) => standardize(f.x, stats));
  const accuracy = (m: Awaited<ReturnType<typeof fitLogistic>>, x: Matrix, y: Int32Array) =>
    weightedMean(topKHits(logisticScores(m, x), y, 1));
  const validation: number[] = [];
  let best: { lambda: number; acc: number; model?: Awaited<ReturnType<typeof fitLogistic>> } = {
    lambda: NaN,
    acc: -1,
  };
  for (const lambda of options.weightDecays) {
    const model = await fitLogistic(train!, data.train.y, {
      ...options,
      classes: data.classes,
      weightDecay: lambda,
    });
    const acc = accuracy(model, val!, data.val.y);
    validation.push(acc);
    if (acc > best.acc || (acc === best.acc && lambda < best.lambda)) best = { lambda, acc, model };
  }
  return {
    weightDecay: best.lambda,
    validation,
    test: accuracy(best.model!, test!, data.test.y),
    ...(best.model!.converged !== undefined && { converged: best.model!.converged }),
  };
}

/** The `linear_probe` evaluator. */
export class LinearProbeEvaluator implements Evaluator {
  /** Creates the evaluator from validated parameters. */
  constructor(readonly params: LinearProbeParams) {}

  /**
   * Embeds train, validation and test samples, sweeps λ and scores the chosen probe.
   *
   * @returns `top1` (test), `val_top1` (best λ), `weight_decay` (chosen λ),
   *   `val_top1/<λ>` per swept λ, `converged` (L-BFGS: 1 when the chosen probe's
   *   fit met its gradient tolerance), and the sample counts `n_train`, `n_val`,
   *   `n`; with `shots`: `top1` and `val_top1` as means over the draws,
   *   `top1_std` (repeats > 1), `weight_decay` (the λ chosen most often),
   *   `converged` (the share of draws whose chosen fit converged), `shots`, `repeats`.
   */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const p = this.params;
    const read = async (split: string, limit?: number) => {
      const e = await embedSplit(model, source, {
        ...p,
        split,
        limit,
        text: undefined,
        who: "linear_probe",
      });
      return labelledOnly(e.image!, e.labels);
    };
    const all = await read(p.train, p.train_limit);
    const [train, val] = p.val
      ? [all, await read(p.val, p.train_limit)]
      : holdOut(all, { fraction: p.val_fraction, seed: p.seed });
    const test = await read(p.split, p.limit);
    if (!train.y.length || !val.y.length || !test.y.length) {
      throw new Error(
        `linear_probe: needs labelled samples in train (${train.y.length}), validation ` +
          `(${val.y.length}) and test (${test.y.length}) of "${source.name}"`,
      );
    }
    const classes = source.classNames.length;
    if (classes === 0) {
      throw new Error(
        `linear_probe: data source "${source.name}" names no classes; a probe needs class labels`,
      );
    }
    const options = {
      weightDecays: p.weight_decays,
      ...(p.solver && { solver: p.solver }),
      ...(p.max_iter && { maxIterations: p.max_iter }),
      steps: p.steps,
      lr: p.lr,
    };
    const counts = { n_val: val.y.length, n: test.y.length };
    if (p.shots !== undefined) {
      const shots = p.shots;
      const repeats = p.repeats ?? 5;
      const [tops, vals, chosen] = [[] as number[], [] as number[], [] as number[]];
      const converged: boolean[] = [];
      for (let draw = 0; draw < repeats; draw++) {
        const drawn = drawShots(train, {
          shots,
          classes,
          seed: p.seed,
          draw,
          classNames: source.classNames,
        });
        const result = await sweepWeightDecay({ train: drawn, val, test, classes }, options);
        tops.push(result.test);
        vals.push(Math.max(...result.validation));
        chosen.push(result.weightDecay);
        if (result.converged !== undefined) converged.push(result.converged);
      }
      return {
        top1: mean(tops),
        ...(repeats > 1 && { top1_std: sampleStd(tops) }),
        val_top1: mean(vals),
        weight_decay: mostCommon(chosen),
        ...(converged.length > 0 && { converged: mean(converged.map(Number)) }),
        shots,
        repeats,
        n_train: shots * classes,
        ...counts,
      };
    }
    const result = await sweepWeightDecay({ train, val, test, classes }, options);
    const metrics: Metrics = {
      top1: result.test,
      val_top1: Math.max(...result.validation),
      weight_decay: result.weightDecay,
      ...(result.converged !== undefined && { converged: Number(result.converged) }),
    };
    p.weight_decays.forEach((l, i) => (metrics[`val_top1/${l}`] = result.validation[i]!));
    return { ...metrics, n_train: train.y.length, ...counts };
  }
}

/** The value chosen most often (the smallest among equally frequent ones). */
function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
}

/** Registry entry of the `linear_probe` evaluator. */
export const linearProbeEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "linear_probe",
  summary: "logistic-regression probe on frozen features, weight decay swept on validation",
  nodeRefs: { image: "image" },
  schema,
  create: (params: LinearProbeParams) => new LinearProbeEvaluator(params),
};
