/**
 * The `train:` section of a recipe, as the trainer consumes it (defined with
 * the rest of the resolved recipe in `core/recipe/types.ts`).
 *
 * @module
 */
export type { EmaConfig, OptimizerConfig, ScheduleConfig, TrainConfig } from "./recipe/types.ts";
