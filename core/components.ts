/**
 * The four component registries and the factory signatures their entries
 * implement. Rooms (`models/`, `losses/`, `data/`, `eval/`) export entries;
 * `core/builtins.ts` registers them (one line per component).
 *
 * @module
 */
import { Registry } from "./registry.ts";
import type { BuildContext, DataSource, LossFn, Module, NodeValue } from "./types.ts";
import type { Tensor } from "./tensor.ts";

/** Validated parameters of a component (typed by each entry's own schema). */
// deno-lint-ignore no-explicit-any
export type Params = any;

/** Builds a module from its validated parameters and the shapes of its inputs. */
export type ModuleFactory = (params: Params, ctx: BuildContext) => Module | Promise<Module>;

/** A loss term built from validated parameters. */
export interface LossTerm {
  /**
   * Input roles the term needs (the keys of the recipe's `inputs:`). A role
   * ending in `[]` takes a list of references (e.g. `x[]` for SIGReg); a role
   * ending in `?` is optional (e.g. `logit_scale?`).
   */
  roles: string[];
  /** The pure loss function. */
  fn: LossFn;
}

/** Builds a loss term from its validated parameters. */
export type LossFactory = (params: Params) => LossTerm;

/** What a data-source factory receives besides its parameters. */
export interface SourceContext {
  /** Recipe seed. */
  seed: number;
  /** Directory for caches. */
  cacheDir: string;
}

/** Builds a data source from validated parameters. */
export type SourceFactory = (params: Params, ctx: SourceContext) => Promise<DataSource>;

/** The trained model as evaluators see it: the inference graph. */
export interface InferenceModel {
  /**
   * Evaluates node `target` of the inference graph on the given batch fields
   * (only the fields the target's ancestors read are needed) and returns its
   * value. The caller disposes the result.
   */
  run(target: string, batch: Record<string, NodeValue>): Promise<Tensor>;
  /** Gives back what the model holds beyond the graph (replayed calls); absent when nothing. */
  dispose?(): void;
}

/** Evaluation results: metric name → value. */
export type Metrics = Record<string, number>;

/** An evaluator built from validated parameters. */
export interface Evaluator {
  /** Runs the evaluation and returns named metrics. */
  evaluate(model: InferenceModel, source: DataSource): Promise<Metrics>;
  /**
   * Checks, before training, that `source` gives this evaluator what it needs
   * (class names, findings); throws an error saying what is missing (a
   * {@link SourceCheckError} to point at the parameter at fault). Optional.
   */
  check?(source: DataSource): void;
}

/** An evaluator's {@link Evaluator.check} failure caused by one of its parameters. */
export class SourceCheckError extends Error {
  /**
   * Creates the error.
   *
   * @param message What the source lacks.
   * @param param The evaluator parameter at fault (e.g. `findings`), located in the recipe.
   */
  constructor(message: string, readonly param: string) {
    super(message);
    this.name = "SourceCheckError";
  }
}

/** Builds an evaluator from validated parameters. */
export type EvaluatorFactory = (params: Params) => Evaluator;

/** Registry of graph modules (`nodes:` kinds). */
export const modules: Registry<ModuleFactory> = new Registry<ModuleFactory>("module");
/** Registry of loss terms (`losses:` kinds). */
export const losses: Registry<LossFactory> = new Registry<LossFactory>("loss");
/** Registry of data sources (`data:` kinds). */
export const sources: Registry<SourceFactory> = new Registry<SourceFactory>("data source");
/** Registry of evaluators (`eval:` kinds). */
export const evaluators: Registry<EvaluatorFactory> = new Registry<EvaluatorFactory>(
  "evaluator",
);
