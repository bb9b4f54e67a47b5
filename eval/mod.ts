/**
 * Evaluators: what a trained model is measured with — zero-shot
 * classification (accuracy, per-class accuracy, bootstrap CIs), multi-label
 * zero-shot with binary prompt pairs (AUROC, MCC, F1), retrieval (R@K, median
 * rank), linear probe and kNN on frozen features, and representation
 * diagnostics; plus the metric functions themselves and the run report
 * (`report.html` + SVG plots). `evaluatorEntries` lists the registry entries
 * for `core/builtins.ts`.
 *
 * @module
 */
import type { EvaluatorFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { diagnosticsEntry } from "./diagnostics.ts";
import { knnEntry } from "./knn.ts";
import { linearProbeEntry } from "./linear_probe.ts";
import { retrievalEntry } from "./retrieval.ts";
import { zeroShotEntry } from "./zero_shot.ts";
import { zeroShotBinaryEntry } from "./zero_shot_binary.ts";

export {
  classEmbeddings,
  promptEnsemble,
  ZeroShotEvaluator,
  type ZeroShotParams,
} from "./zero_shot.ts";
export {
  type BinaryMetricOptions,
  binaryPromptMetrics,
  oneVsRest,
  ZeroShotBinaryEvaluator,
  type ZeroShotBinaryParams,
} from "./zero_shot_binary.ts";
export {
  medianRank,
  recallAtK,
  RetrievalEvaluator,
  retrievalMetrics,
  type RetrievalParams,
  retrievalRanks,
} from "./retrieval.ts";
export {
  type Features,
  holdOut,
  LinearProbeEvaluator,
  type LinearProbeParams,
  type ProbeResult,
  sweepWeightDecay,
} from "./linear_probe.ts";
export { KnnEvaluator, type KnnParams, knnPredict } from "./knn.ts";
export {
  collapseAlarm,
  diagnoseEmbeddings,
  DiagnosticsEvaluator,
  type DiagnosticsParams,
  type DiagnosticsReport,
  diagnosticsSchedule,
  modalityClassifierAccuracy,
  runDiagnostics,
} from "./diagnostics.ts";
export {
  alignment,
  effectiveRank,
  modalityGap,
  normalizedStd,
  type PrototypeUsage,
  prototypeUsage,
  sigregStatistic,
  uniformity,
} from "./geometry.ts";
export {
  argmaxRows,
  ascendingOrder,
  auroc,
  type AurocOptions,
  type Confusion,
  confusion,
  f1,
  mcc,
  pairProbability,
  perClassAccuracy,
  topKHits,
  weightedMean,
} from "./classification.ts";
export { bootstrapCI, type BootstrapOptions, type Interval, quantile } from "./bootstrap.ts";
export {
  fitLogistic,
  type LogisticModel,
  type LogisticOptions,
  logisticScores,
} from "./logistic.ts";
export { type Matrix, matrixFromRows, pca, type Projection, tensorToMatrix } from "./linalg.ts";
export { embedSplit, type EmbedSplitOptions, type SplitEmbeddings } from "./features.ts";
export {
  metricTables,
  projectEmbeddings,
  type ReportEmbeddings,
  type ReportFiles,
  type ReportInput,
  writeReport,
} from "./report.ts";
export {
  embeddingsForReport,
  reportNodes,
  type ReportSampleOptions,
  type RunReportOptions,
  writeRunReport,
} from "./run_report.ts";
export { type CurvePoint, type PlotSpec, type ProjectedPoint, renderSvg } from "./plots.ts";

/**
 * Evaluator entries provided by `eval/`: `zero_shot`, `zero_shot_binary`,
 * `retrieval`, `linear_probe`, `knn`, `diagnostics`.
 */
export const evaluatorEntries: RegistryEntry<EvaluatorFactory>[] = [
  zeroShotEntry,
  zeroShotBinaryEntry,
  retrievalEntry,
  linearProbeEntry,
  knnEntry,
  diagnosticsEntry,
];
