/**
 * Zero-shot predictions of embedded images against prompt ensembles, for
 * inputs outside any dataset (`deno task predict`): the best classes of each
 * image (the `zero_shot` evaluator's scoring), or the probability of each
 * finding from its positive and negative prompts (the `zero_shot_binary`
 * evaluator's: CheXzero's pair softmax).
 *
 * @module
 */
import { pairProbability } from "./classification.ts";
import { matMulTransposed, type Matrix } from "./linalg.ts";
import { type ClassScore, topClasses } from "./top_classes.ts";

/** Zero-shot classes of some images. */
export interface Classification {
  /** The classes scored, in order. */
  classes: string[];
  /** Cosine similarity of each image to each class's prompt ensemble, `[N, C]`. */
  scores: Matrix;
  /** Per image, the `top` best classes, best first. */
  top: ClassScore[][];
}

/** Zero-shot findings of some images (multi-label). */
export interface FindingScores {
  /** The findings scored, in order. */
  findings: string[];
  /** `σ(scale·(⟨i, pos⟩ − ⟨i, neg⟩))` per image and finding, `[N, F]`. */
  probability: Matrix;
  /** The logit `scale·(⟨i, pos⟩ − ⟨i, neg⟩)`, `[N, F]` (ranks what rounds to 1 apart). */
  logit: Matrix;
}

/**
 * Throws unless every template holds `{}`.
 *
 * @param templates Prompt templates.
 * @param who The caller, for the message.
 */
export function checkTemplates(templates: readonly string[], who: string): void {
  if (templates.length === 0) throw new Error(`${who}: no prompt templates; expected at least one`);
  const bad = templates.find((t) => !t.includes("{}"));
  if (bad !== undefined) {
    throw new Error(
      `${who}: template "${bad}" has no "{}" where the name goes; expected e.g. "a photo of a {}."`,
    );
  }
}

/** Throws unless image and text embeddings have one width. */
function sameSpace(image: Matrix, text: Matrix, who: string): void {
  if (image.cols !== text.cols) {
    throw new Error(
      `${who}: image embeddings have dimension ${image.cols} but text embeddings ` +
        `${text.cols}; both nodes must end in the same space`,
    );
  }
}

/**
 * Each image's cosine to every class and its `top` best classes.
 *
 * @param image Unit image embeddings `[N, D]`.
 * @param classes Unit class embeddings `[C, D]` (prompt ensembles).
 * @param options Class names and how many to list per image.
 */
export function classScores(
  image: Matrix,
  classes: Matrix,
  options: { names: readonly string[]; top: number },
): Classification {
  sameSpace(image, classes, "classify");
  const scores = matMulTransposed(image, classes);
  const top = topClasses(scores, { names: options.names, k: options.top });
  return { classes: [...options.names], scores, top };
}

/**
 * Each image's probability of every finding: the pair softmax of its cosines
 * to the finding's positive and negative prompt ensembles.
 *
 * @param image Unit image embeddings `[N, D]`.
 * @param prompts Unit positive and negative ensembles `[F, D]`, one row per finding.
 * @param options Finding names and the logit scale (1: raw cosines, as CheXzero).
 */
export function findingScores(
  image: Matrix,
  prompts: { positive: Matrix; negative: Matrix },
  options: { names: readonly string[]; scale: number },
): FindingScores {
  sameSpace(image, prompts.positive, "findings");
  const sp = matMulTransposed(image, prompts.positive);
  const sn = matMulTransposed(image, prompts.negative);
  const { scale } = options;
  return {
    findings: [...options.names],
    probability: { ...sp, data: sp.data.map((v, i) => pairProbability(v, sn.data[i]!, { scale })) },
    logit: { ...sp, data: sp.data.map((v, i) => scale * (v - sn.data[i]!)) },
  };
}
