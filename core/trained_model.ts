/**
 * A trained run as a model to use: image and text embeddings of new inputs,
 * zero-shot classes and findings of image files, from a run directory's
 * recipe and latest checkpoint (with `train.ema`, the averaged weights) —
 * what `deno task predict`, `embed` and `search` run, and the library's entry
 * point for inference (open_clip's `encode_image` / `encode_text`). The
 * training data is not needed: the run's `data.json` says what the model
 * knows of it (`core/data_facts.ts`).
 *
 * The embedding nodes are the recipe's own: those of its first `zero_shot`
 * evaluator, else of its first evaluator naming an `image` and a `text` node
 * (`retrieval`, `diagnostics`; findings: its `zero_shot_binary` evaluator's),
 * unless given. Images are decoded as the training data was (the source's
 * size and channels, its `fit`, values in `[0, 1]`).
 *
 * @module
 */
import type { InferenceModel } from "./components.ts";
import type { Tensor4D } from "./tensor.ts";
import type { CompiledGraph } from "./graph_run.ts";
import type { RunnableRecipe } from "./run.ts";
import type { LoadedRunWeights } from "./run_weights.ts";
import { stepReplayWanted } from "./device_step.ts";
import type { FitMode } from "../data/decode.ts";
import { readImageFiles } from "../data/image_files.ts";
import { embedImages, embedTexts, stackRows } from "../eval/features.ts";
import type { DataFacts } from "./data_facts.ts";
import { type Matrix, normalizeRows } from "../eval/linalg.ts";
import { promptEnsemble } from "../eval/zero_shot.ts";
import {
  checkTemplates,
  type Classification,
  classScores,
  type FindingScores,
  findingScores,
} from "../eval/prompt_scores.ts";
import {
  loadTrainedParts,
  recipeBinary,
  recipeNodes,
  type TrainedNodes,
} from "./trained_model_load.ts";
import type {
  ClassifyOptions,
  EmbedOptions,
  FindingOptions,
  TrainedModelOptions,
} from "./trained_model_options.ts";

export type { Classification, FindingScores } from "../eval/prompt_scores.ts";
export type { ClassScore } from "../eval/top_classes.ts";
export type { TrainedNodes } from "./trained_model_load.ts";
export type {
  ClassifyOptions,
  EmbedOptions,
  FindingOptions,
  TrainedModelOptions,
} from "./trained_model_options.ts";

/** A trained run loaded for inference. Dispose it when done. */
export class TrainedModel {
  /** The run directory loaded. */
  readonly runDir: string;
  /** The run's resolved recipe (with the overrides applied). */
  readonly recipe: RunnableRecipe;
  /** The checkpoint loaded and its training step. */
  readonly checkpoint: { file: string; step: number };
  /** The embedding nodes (absent: none given and none in the recipe's evaluators). */
  readonly nodes: TrainedNodes;
  /** The nodes {@link findings} scores with: given, else the recipe's `zero_shot_binary` ones. */
  readonly findingNodes: TrainedNodes;
  /** Class names of the training data (`[]` when it has none). */
  readonly classNames: string[];
  /** Multi-label target names of the training data (e.g. CheXpert's findings; `[]` when none). */
  readonly labelNames: string[];
  /** The model's input `[H, W, C]`: what image files are decoded to. */
  readonly imageShape: [number, number, number];
  readonly #graph: CompiledGraph;
  readonly #model: InferenceModel;
  readonly #average: LoadedRunWeights["average"];

  private constructor(
    graph: CompiledGraph,
    at: {
      runDir: string;
      recipe: RunnableRecipe;
      weights: LoadedRunWeights;
      nodes: TrainedNodes;
      findingNodes: TrainedNodes;
      data: DataFacts;
      replay: boolean;
    },
  ) {
    this.#graph = graph;
    this.runDir = at.runDir;
    this.recipe = at.recipe;
    this.checkpoint = { file: at.weights.file, step: at.weights.step };
    this.#average = at.weights.average;
    this.nodes = at.nodes;
    this.findingNodes = at.findingNodes;
    this.classNames = at.data.classes;
    this.labelNames = at.data.labels;
    this.imageShape = at.data.image_shape;
    this.#model = graph.inference({ seed: at.recipe.seed, replay: at.replay });
  }

  /**
   * Loads a run directory: its `recipe.yaml` (with `overrides`), the graph
   * built from it, and the latest checkpoint's inference weights. The
   * training data is not read when the run has its `data.json` (class and
   * label names, image shape; written by every run since 2026-11-25).
   *
   * @param runDir A run directory (`runs/<name>-<time>`, a sweep member).
   * @param options Nodes, overrides, backend.
   * @throws When the folder is not a run, has no checkpoint, or names no such node.
   */
  static async load(runDir: string, options: TrainedModelOptions = {}): Promise<TrainedModel> {
    const parts = await loadTrainedParts(runDir, options);
    return new TrainedModel(parts.graph, {
      ...parts,
      runDir,
      replay: options.replay ?? stepReplayWanted(),
    });
  }

  /** The prompt templates {@link classify} uses by default (the recipe's zero-shot ones). */
  get templates(): string[] {
    return [...(recipeNodes(this.recipe).templates ?? ["a photo of a {}."])];
  }

  /** The findings {@link findings} scores by default: the recipe's, else the data's labels. */
  get findingNames(): string[] {
    const names = recipeBinary(this.recipe).findings ??
      (this.labelNames.length > 0 ? this.labelNames : this.classNames);
    return [...names];
  }

  /**
   * Decodes image files to the model's input: `[N, H, W, C]` in `[0, 1]`,
   * resized with the training data's `fit` (default `cover`).
   */
  readImages(files: readonly string[]): Promise<Tensor4D> {
    const [height, width, channels] = this.imageShape;
    const data = this.recipe.data.params as { fit?: FitMode };
    const fit = data.fit ?? "cover";
    return readImageFiles(files, { height, width, channels: channels as 1 | 3, fit });
  }

  /**
   * Image embeddings `[N, D]`, L2-normalised unless `normalize: false`.
   *
   * @param images Image files, or a batch `[N, H, W, C]` of the input shape (kept by the caller).
   */
  async embedImages(
    images: readonly string[] | Tensor4D,
    options: EmbedOptions = {},
  ): Promise<Matrix> {
    const node = options.node ?? this.#node("image");
    const batch = options.batch ?? 64;
    const at = { node, batch, who: `image node "${node}"` };
    let m: Matrix;
    if (Array.isArray(images)) {
      // Decoded `batch` files at a time: a folder of X-rays need not fit in memory at once.
      const parts: Matrix[] = [];
      for (let i = 0; i < images.length; i += batch) {
        const tensor = await this.readImages(images.slice(i, i + batch));
        try {
          parts.push(await embedImages(this.#model, tensor, at));
        } finally {
          tensor.dispose();
        }
      }
      m = stackRows(parts);
    } else {
      m = await embedImages(this.#model, images as Tensor4D, at);
    }
    return options.normalize === false ? m : normalizeRows(m);
  }

  /** Text embeddings `[N, D]`, L2-normalised unless `normalize: false`. */
  async embedTexts(texts: readonly string[], options: EmbedOptions = {}): Promise<Matrix> {
    const node = options.node ?? this.#node("text");
    const m = await embedTexts(this.#model, [...texts], {
      node,
      batch: options.batch ?? 64,
      who: `text node "${node}"`,
    });
    return options.normalize === false ? m : normalizeRows(m);
  }

  /**
   * Prompt ensembles `[names, D]`: per template, every name's prompt embedded
   * and normalised; averaged over templates; normalised again (how the
   * zero-shot evaluators build a class).
   */
  promptEnsemble(
    names: readonly string[],
    options: { templates: readonly string[]; batch?: number; node?: string },
  ): Promise<Matrix> {
    checkTemplates(options.templates, "prompts");
    const node = options.node ?? this.#node("text");
    return promptEnsemble(this.#model, {
      names: [...names],
      templates: [...options.templates],
      node,
      batch: options.batch ?? 64,
      who: `text node "${node}"`,
    });
  }

  /**
   * Zero-shot classification (the `zero_shot` evaluator's scoring): each
   * image's cosine to every class's prompt ensemble, and its best classes.
   *
   * @param images Image files, or a batch `[N, H, W, C]`.
   */
  async classify(
    images: readonly string[] | Tensor4D,
    options: ClassifyOptions = {},
  ): Promise<Classification> {
    const names = options.classes ?? this.classNames;
    if (names.length < 2) {
      throw new Error(
        `classify: ${names.length} class names (the training data has ` +
          `${this.classNames.length}); name at least 2 (--classes a,b,…)`,
      );
    }
    const batch = options.batch ?? 64;
    const templates = options.templates ?? this.templates;
    const classes = await this.promptEnsemble(names, { templates, batch });
    const image = await this.embedImages(images, { batch });
    return classScores(image, classes, { names, top: options.top ?? 5 });
  }

  /**
   * Zero-shot findings (the `zero_shot_binary` evaluator's scoring, CheXzero's):
   * each image's probability of every finding from its positive and negative
   * prompt ensembles; the defaults (findings, prompts, scale, and the nodes,
   * {@link findingNodes}) are the recipe's `zero_shot_binary` ones.
   *
   * @param images Image files, or a batch `[N, H, W, C]`.
   */
  async findings(
    images: readonly string[] | Tensor4D,
    options: FindingOptions = {},
  ): Promise<FindingScores> {
    const binary = recipeBinary(this.recipe);
    const names = options.findings ?? this.findingNames;
    if (names.length === 0) {
      throw new Error("findings: no findings to score; name them (--findings a,b,…)");
    }
    const batch = options.batch ?? 64;
    const text = this.#node("text", this.findingNodes);
    const positive = await this.promptEnsemble(names, {
      templates: options.positive ?? binary.positive ?? ["{}"],
      batch,
      node: text,
    });
    const negative = await this.promptEnsemble(names, {
      templates: options.negative ?? binary.negative ?? ["no {}"],
      batch,
      node: text,
    });
    const image = await this.embedImages(images, {
      batch,
      node: this.#node("image", this.findingNodes),
    });
    const scale = options.scale ?? binary.scale ?? 1;
    return findingScores(image, { positive, negative }, { names, scale });
  }

  /** Releases the graph, the weights and any replayed calls. */
  dispose(): void {
    this.#model.dispose?.();
    this.#average?.dispose();
    this.#graph.dispose();
  }

  #node(role: "image" | "text", nodes: TrainedNodes = this.nodes): string {
    const node = nodes[role];
    if (node === undefined) {
      throw new Error(
        `no ${role} node: the recipe has no evaluator naming one; name it (--${role}-node ` +
          `<node>; nodes: ${this.#graph.inferenceNodes().map((n) => n.name).join(", ")})`,
      );
    }
    return node;
  }
}
