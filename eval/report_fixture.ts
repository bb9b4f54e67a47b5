/**
 * A realistic synthetic run for report tests: `metrics.jsonl` records with
 * loss terms and diagnostics, evaluation results with per-class accuracy and
 * per-finding AUROC with CIs, and clustered image/text embeddings with a
 * modality gap.
 *
 * @module
 */
import type { Metrics } from "../core/components.ts";
import { Rng } from "../core/rng.ts";
import type { ReportInput } from "./report.ts";

/** Class names of the fixture. */
export const FIXTURE_CLASSES: string[] = ["zero", "one", "two", "three", "four"];

/** Training records every 10 steps for 200 steps, diagnostics every 50. */
function records(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let step = 9; step < 200; step += 10) {
    const t = step / 200;
    out.push({
      step,
      loss: 2 * Math.exp(-3 * t) + 0.1,
      terms: { prediction: Math.exp(-3 * t), sigreg: 40 * Math.exp(-4 * t) + 1 },
      lr: 1e-3 * Math.min(1, step / 50),
      grad_norm: 3 - 2 * t,
      images_per_s: 500 + 10 * Math.sin(step),
      ms: 400,
    });
    if ((step + 1) % 50 === 0) {
      out.push({ step, diagnostics: { "image/rank": 5 + 20 * t, gap: 0.8 - 0.5 * t } });
    }
  }
  return out;
}

/** Evaluation results as the evaluators produce them. */
function evalResults(): Record<string, Metrics> {
  const zero: Metrics = { top1: 0.91, top5: 0.99, n: 500, top1_ci_low: 0.885, top1_ci_high: 0.934 };
  const binary: Metrics = {
    auroc: 0.93,
    auroc_ci_low: 0.91,
    auroc_ci_high: 0.95,
    mcc: 0.6,
    f1: 0.7,
    n: 500,
  };
  FIXTURE_CLASSES.forEach((c, i) => {
    zero[`acc/${c}`] = 0.8 + 0.04 * i;
    binary[`auroc/${c}`] = 0.88 + 0.02 * i;
    binary[`auroc_ci_low/${c}`] = 0.85 + 0.02 * i;
    binary[`auroc_ci_high/${c}`] = 0.91 + 0.02 * i;
  });
  return {
    zero_shot: zero,
    zero_shot_binary: binary,
    diagnostics: {
      "image/rank": 25.3,
      "text/rank": 8.1,
      "image/std": 0.61,
      "text/std": 0.4,
      gap: 0.42,
      n: 500,
    },
  };
}

/**
 * The fixture run.
 *
 * @param options `points` per modality (default 150) and the `seed`.
 */
export function reportFixture(options: { points?: number; seed?: number } = {}): ReportInput {
  const rng = new Rng(options.seed ?? 0);
  const n = options.points ?? 150, d = 8;
  const labels = Array.from({ length: n }, (_, i) => i % FIXTURE_CLASSES.length);
  const centre = (c: number, k: number) => (k === c ? 3 : 0);
  const image = labels.map((c) =>
    Array.from({ length: d }, (_, k) => centre(c, k) + 0.6 * rng.normal() + (k === 7 ? 2 : 0))
  );
  const text = labels.map((c) =>
    Array.from({ length: d }, (_, k) => centre(c, k) + 0.3 * rng.normal() - (k === 7 ? 2 : 0))
  );
  return {
    metrics: records(),
    eval: evalResults(),
    embeddings: { image, text, labels, classNames: FIXTURE_CLASSES },
    title: "fixture run",
  };
}
