/**
 * Multi-label zero-shot evaluation with binary prompt pairs, as CheXzero
 * (Tiu et al. 2022, {@link https://doi.org/10.1038/s41551-022-00936-9 | Nat. Biomed. Eng.})
 * and NOVA report it: for every finding, a positive prompt ("{finding}") and a
 * negative prompt ("no {finding}") — each the normalised mean over a prompt
 * ensemble — and the probability `softmax(scale·[⟨i, pos⟩, ⟨i, neg⟩])[0]`.
 * Reports AUROC per finding (with bootstrap 95% CIs), MCC and F1 at a
 * threshold on that probability (default ½: "the positive prompt is closer"),
 * and their macro means.
 *
 * @module
 */
import { z } from "zod";
import {
  type Evaluator,
  type EvaluatorFactory,
  type InferenceModel,
  type Metrics,
  SourceCheckError,
} from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt, probability } from "../core/schema.ts";
import { suggestion } from "../core/recipe/errors.ts";
import type { DataSource } from "../core/types.ts";
import { bootstrapCI } from "./bootstrap.ts";
import { ascendingOrder, auroc, confusion, f1, mcc, pairProbability } from "./classification.ts";
import { embedSplit } from "./features.ts";
import { matMulTransposed, type Matrix, normalizeRows } from "./linalg.ts";
import { promptEnsemble } from "./zero_shot.ts";

/** Parameters of the `zero_shot_binary` evaluator (after validation and defaults). */
export interface ZeroShotBinaryParams {
  /** Node producing image embeddings from `batch.image`. */
  image: string;
  /** Node producing text embeddings from `batch.caption`. */
  text: string;
  /** Split to evaluate (default `"test"`). */
  split: string;
  /** Positive prompt templates, `{}` = the finding (default `["{}"]`). */
  positive: string[];
  /** Negative prompt templates (default `["no {}"]`). */
  negative: string[];
  /** Findings to score (default: every class name); each must be a class name of the source. */
  findings?: string[];
  /** Decision threshold on the pair probability for MCC and F1 (default 0.5). */
  threshold: number;
  /** Logit scale of the pair softmax (default 1: raw cosine, as CheXzero). */
  scale: number;
  /** Bootstrap resamples for the AUROC CIs (default 1000; 0 disables). */
  bootstrap: number;
  /** Seed of the bootstrap (default 0). */
  seed: number;
  /** Images (and prompts) per forward call (default 256). */
  batch: number;
  /** Evaluate at most this many samples. */
  limit?: number;
}

const template = z.string().refine((s) => s.includes("{}"), {
  message: 'each template needs "{}" where the finding goes, e.g. "no {}"',
});
const schema = z.strictObject({
  image: z.string().min(1).describe("Node producing image embeddings from `batch.image`."),
  text: z.string().min(1).describe("Node producing text embeddings from `batch.caption`."),
  split: z.string().min(1).default("test").describe("Split to evaluate."),
  positive: z.array(template).min(1).default(["{}"]).describe(
    "Positive prompt templates, `{}` = the finding.",
  ),
  negative: z.array(template).min(1).default(["no {}"]).describe("Negative prompt templates."),
  findings: z.array(z.string().min(1)).min(1).optional().describe(
    "Findings to score (default: every class name); each must be a class name of the source.",
  ),
  threshold: probability().default(0.5).describe(
    "Decision threshold on the pair probability for MCC and F1.",
  ),
  scale: num().default(1).describe(
    "Logit scale of the pair softmax (1: raw cosine, as CheXzero).",
  ),
  bootstrap: z.number().int().min(0).default(1000).describe(
    "Bootstrap resamples for the AUROC CIs (0 disables).",
  ),
  seed: z.number().int().default(0).describe("Seed of the bootstrap."),
  batch: positiveInt().default(256).describe("Images (and prompts) per forward call."),
  limit: positiveInt().optional().describe("Evaluate at most this many samples (absent: all)."),
});

/** Options of {@link binaryPromptMetrics}. */
export interface BinaryMetricOptions {
  /** Finding names, one per column. */
  names: string[];
  /** Threshold for MCC / F1 (positive iff probability ≥ threshold). */
  threshold: number;
  /** Bootstrap resamples (0: no CIs). */
  bootstrap: number;
  /** Bootstrap seed. */
  seed: number;
  /**
   * What AUROC ranks, `[N, F]` like the probabilities and in the same order
   * (the logits `scale·(pos − neg)`: the probabilities round to exactly 1
   * for large ones, tying what the logits tell apart); default the probabilities.
   */
  ranking?: Matrix;
}

/** Mean of the finite values (NaN when none). */
function finiteMean(values: number[]): number {
  const ok = values.filter(Number.isFinite);
  return ok.length ? ok.reduce((s, v) => s + v, 0) / ok.length : NaN;
}

/** Column `f` of `m` as an array. */
function column(m: Matrix, f: number): Float64Array {
  return Float64Array.from({ length: m.rows }, (_, i) => m.data[i * m.cols + f]!);
}

/**
 * Multi-label metrics from per-finding probabilities.
 *
 * @param probabilities `[N, F]` scores (e.g. pair probabilities).
 * @param targets `[N, F]` with 1 (present), 0 (absent) or −1 (unknown, ignored).
 * @returns `auroc/<f>`, `mcc/<f>`, `f1/<f>`, `positives/<f>`, with bootstrap
 *   `auroc_ci_low/<f>` and `auroc_ci_high/<f>`; macro means `auroc`, `mcc`,
 *   `f1` (over findings with a defined AUROC) and, with bootstrap, the CI of
 *   the macro AUROC; and `n`. Undefined values (a finding without positives) are left out.
 */
export function binaryPromptMetrics(
  probabilities: Matrix,
  targets: Matrix,
  options: BinaryMetricOptions,
): Metrics {
  const { names, threshold } = options;
  const ranking = options.ranking ?? probabilities;
  const cols = names.map((name, f) => {
    const r = column(ranking, f);
    const bad = r.findIndex((v) => Number.isNaN(v));
    if (bad >= 0) {
      throw new Error(
        `zero_shot_binary: finding "${name}": sample ${bad}'s score is NaN — the image or ` +
          "prompt embeddings are not finite (a diverged model?); no AUROC can rank it",
      );
    }
    return { p: column(probabilities, f), r, t: column(targets, f) };
  });
  const orders = cols.map(({ r }) => ascendingOrder(r));
  const aucs = cols.map(({ r, t }, f) => auroc(r, t, { order: orders[f] }));
  const metrics: Metrics = { n: probabilities.rows };
  const mccs: number[] = [], f1s: number[] = [];
  names.forEach((name, f) => {
    const { p, t } = cols[f]!;
    metrics[`positives/${name}`] = t.filter((v) => v > 0).length;
    if (!Number.isFinite(aucs[f]!)) return;
    const c = confusion(p, t, { threshold });
    metrics[`auroc/${name}`] = aucs[f]!;
    mccs.push(mcc(c));
    f1s.push(f1(c));
    metrics[`mcc/${name}`] = mccs.at(-1)!;
    metrics[`f1/${name}`] = f1s.at(-1)!;
  });
  Object.assign(metrics, { auroc: finiteMean(aucs), mcc: finiteMean(mccs), f1: finiteMean(f1s) });
  if (options.bootstrap > 0) {
    const intervals = bootstrapCI(probabilities.rows, (w) => {
      const values = cols.map(({ r, t }, f) => auroc(r, t, { order: orders[f], weights: w }));
      // The macro mean over the findings of the point estimate, or none: a resample that
      // lost a finding's only positives would average fewer findings (and is dropped).
      const lost = values.some((v, f) => Number.isFinite(aucs[f]!) && !Number.isFinite(v));
      return [...values, lost ? NaN : finiteMean(values)];
    }, { resamples: options.bootstrap, seed: options.seed });
    names.forEach((name, f) => {
      if (!Number.isFinite(aucs[f]!)) return;
      metrics[`auroc_ci_low/${name}`] = intervals[f]!.low;
      metrics[`auroc_ci_high/${name}`] = intervals[f]!.high;
    });
    const macro = intervals[names.length]!;
    Object.assign(metrics, { auroc_ci_low: macro.low, auroc_ci_high: macro.high });
  }
  for (const [k, v] of Object.entries(metrics)) if (!Number.isFinite(v)) delete metrics[k];
  return metrics;
}

/** The source's multi-label target names (`labelNames` of file-backed sources), or `[]`. */
function labelNames(source: DataSource): string[] {
  const names = (source as DataSource & { labelNames?: unknown }).labelNames;
  return Array.isArray(names) ? names as string[] : [];
}

/**
 * Findings to score: `params.findings`, else the source's multi-label names,
 * else its class names; an unknown name is an error listing the choices.
 */
function findingNames(source: DataSource, params: ZeroShotBinaryParams): string[] {
  const multi = labelNames(source);
  const choices = multi.length ? multi : source.classNames;
  const findings = params.findings ?? choices;
  for (const f of findings) {
    if (!choices.includes(f)) {
      const message = `zero_shot_binary: finding "${f}"${suggestion(f, choices)} is not a ` +
        `${multi.length ? "label" : "class"} of ` +
        `data source "${source.name}"; expected one of: ${choices.join(", ")}`;
      throw params.findings ? new SourceCheckError(message, "findings") : new Error(message);
    }
  }
  return findings;
}

/** Columns `[N, F]` of multi-label targets for `names`, NaN (unknown) mapped to −1. */
function pickTargets(targets: Matrix, columns: number[]): Matrix {
  const data = new Float64Array(targets.rows * columns.length);
  for (let i = 0; i < targets.rows; i++) {
    columns.forEach((c, f) => {
      const v = targets.data[i * targets.cols + c]!;
      data[i * columns.length + f] = Number.isNaN(v) ? -1 : v;
    });
  }
  return { rows: targets.rows, cols: columns.length, data };
}

/** One-vs-rest targets `[N, F]` from single class labels (`-1` → unknown row). */
export function oneVsRest(labels: Int32Array, classes: number[]): Matrix {
  const data = new Float64Array(labels.length * classes.length);
  labels.forEach((label, i) => {
    classes.forEach((
      c,
      f,
    ) => (data[i * classes.length + f] = label < 0 ? -1 : label === c ? 1 : 0));
  });
  return { rows: labels.length, cols: classes.length, data };
}

/** The error for a source that names multi-label targets but whose batches carry none. */
function missingTargets(source: DataSource): never {
  throw new Error(
    `zero_shot_binary: data source "${source.name}" names labels (${
      labelNames(source).join(", ")
    }) ` +
      `but its batches carry no "labels" field [B·F]; expected multi-label targets per batch`,
  );
}

/** The `zero_shot_binary` evaluator (binary prompt pairs → AUROC, MCC, F1, CIs). */
export class ZeroShotBinaryEvaluator implements Evaluator {
  /** Creates the evaluator from validated parameters. */
  constructor(readonly params: ZeroShotBinaryParams) {}

  /** Before training: every finding must be a label (or class) of the source. */
  check(source: DataSource): void {
    findingNames(source, this.params);
  }

  /**
   * Scores every image of the split against each finding's prompt pair. Targets
   * are the batches' multi-label `labels` when the source names them
   * (`labelNames`), else one-vs-rest from the class label (finding = class).
   */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const params = this.params;
    const names = findingNames(source, params);
    const pair = { names, node: params.text, batch: params.batch, who: "zero_shot_binary" };
    const pos = await promptEnsemble(model, { ...pair, templates: params.positive });
    const neg = await promptEnsemble(model, { ...pair, templates: params.negative });
    const { image, labels, targets } = await embedSplit(model, source, {
      ...params,
      text: undefined,
      who: "zero_shot_binary",
    });
    if (image!.cols !== pos.cols) {
      throw new Error(
        `zero_shot_binary: image embeddings have dimension ${image!.cols} but text embeddings ` +
          `${pos.cols}; both nodes must end in the same space`,
      );
    }
    const unit = normalizeRows(image!);
    const [sp, sn] = [matMulTransposed(unit, pos), matMulTransposed(unit, neg)];
    const probs = sp.data.map((v, i) => pairProbability(v, sn.data[i]!, { scale: params.scale }));
    // AUROC ranks the logit difference: σ of a large one rounds to exactly 1 (false ties).
    const logits = sp.data.map((v, i) => params.scale * (v - sn.data[i]!));
    const multi = labelNames(source);
    const truth = multi.length
      ? pickTargets(targets ?? missingTargets(source), names.map((f) => multi.indexOf(f)))
      : oneVsRest(labels, names.map((f) => source.classNames.indexOf(f)));
    return binaryPromptMetrics({ ...sp, data: probs }, truth, {
      ranking: { ...sp, data: logits },
      names,
      threshold: params.threshold,
      bootstrap: params.bootstrap,
      seed: params.seed,
    });
  }
}

/** Registry entry of the `zero_shot_binary` evaluator. */
export const zeroShotBinaryEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "zero_shot_binary",
  summary:
    'multi-label zero-shot with "{finding}" / "no {finding}" prompt pairs: AUROC (95% CI), MCC, F1',
  nodeRefs: { image: "image", text: "text" },
  schema,
  create: (params: ZeroShotBinaryParams) => new ZeroShotBinaryEvaluator(params),
};
