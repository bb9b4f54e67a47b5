/**
 * Evaluators: what a trained model is measured with. Each evaluator exposes a
 * registry entry; `evaluatorEntries` lists them for `core/builtins.ts`.
 *
 * @module
 */
import type { EvaluatorFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { zeroShotEntry } from "./zero_shot.ts";

export { classEmbeddings, ZeroShotEvaluator, type ZeroShotParams } from "./zero_shot.ts";

/** Evaluator entries provided by `eval/` (currently `zero_shot`). */
export const evaluatorEntries: RegistryEntry<EvaluatorFactory>[] = [zeroShotEntry];
