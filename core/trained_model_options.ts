/**
 * The options of `TrainedModel`: loading a run, embedding, classifying
 * and scoring findings.
 *
 * @module
 */
import type { BackendChoice } from "./backend.ts";

/** Options of `TrainedModel.load`. */
export interface TrainedModelOptions {
  /** Node giving image embeddings (default: the recipe's zero-shot or retrieval image node). */
  image?: string;
  /** Node giving text embeddings (default: the recipe's zero-shot or retrieval text node). */
  text?: string;
  /** `--set` overrides of the run's recipe (e.g. `train.ema.evaluate=raw`). */
  overrides?: string[];
  /** Backend (default: the recipe's). */
  backend?: BackendChoice;
  /** WebGPU: replay the forward calls (default: unless `NOVALAB_STEP_REPLAY=0`). */
  replay?: boolean;
  /** Cache directory of the text towers (default: `NOVALAB_CACHE` or `.cache/novalab`). */
  cacheDir?: string;
}

/** Options of the embedding methods. */
export interface EmbedOptions {
  /** Inputs per forward call (default 64). */
  batch?: number;
  /** L2-normalise each row (default true: cosine similarity is then a dot product). */
  normalize?: boolean;
  /** The node to embed with (default: the model's image or text node). */
  node?: string;
}

/** Options of `TrainedModel.classify`. */
export interface ClassifyOptions {
  /** Class names (default: the training data's). */
  classes?: string[];
  /** Prompt templates, `{}` standing for the class name (default: the recipe's zero-shot ones). */
  templates?: string[];
  /** Best classes listed per image (default 5, at most the number of classes). */
  top?: number;
  /** Inputs per forward call (default 64). */
  batch?: number;
}

/** Options of `TrainedModel.findings` (defaults: the recipe's `zero_shot_binary`). */
export interface FindingOptions {
  /** Findings to score (default: the evaluator's, else the data's labels or classes). */
  findings?: string[];
  /** Positive prompt templates, `{}` = the finding (default `["{}"]`). */
  positive?: string[];
  /** Negative prompt templates (default `["no {}"]`). */
  negative?: string[];
  /** Logit scale of the pair softmax (default 1: raw cosines). */
  scale?: number;
  /** Inputs per forward call (default 64). */
  batch?: number;
}
