/**
 * The data room: sources (IDX `mnist` / `fashion_mnist`, CSV/JSONL
 * `manifest`, `image_folder`, `webdataset` tar shards, `mimic_cxr`,
 * `chexpert` labels), decoding with sharp, splits (seeded fractions, held-out
 * classes), the bad-input policy, caption templates, deterministic data order
 * and the batched `views` augmentation module. Register `sourceEntries` and
 * `moduleEntries` with the core registries. See `docs/data.md`.
 *
 * @module
 */
export {
  assembleSource,
  canonicalSplit,
  type FileSourceParams,
  type TaggedRecord,
} from "./assemble.ts";
export {
  applyPhotometric,
  type BlurConfig,
  type JitterConfig,
  type PhotometricConfig,
  type SolarizeConfig,
} from "./augment.ts";
export {
  BAD_INPUT_POLICIES,
  BadInputError,
  BadInputLog,
  type BadInputPolicy,
  type BadInputReason,
  type BadInputRecord,
  type BadInputSummary,
  badInputSummaryOf,
  formatBadInputSummary,
} from "./bad_input.ts";
export { expandBraces } from "./braces.ts";
export {
  DEFAULT_CAPTIONS,
  DIGIT_WORDS,
  FASHION_CAPTIONS,
  FASHION_MNIST_CLASSES,
  fillCaption,
  PLACEHOLDER,
} from "./captions.ts";
export {
  CHESTXRAY14_FINDINGS,
  type ChestXray14Params,
  chestxray14Targets,
  createChestXray14Source,
} from "./chestxray14.ts";
export {
  type BlankPolicy,
  CHEXPERT_FINDINGS,
  type ChexpertParams,
  chexpertRoot,
  createChexpertSource,
  findingsCaption,
  type LabelPolicy,
  labelRow,
  labelTarget,
  type UncertainPolicy,
} from "./chexpert.ts";
export {
  DecodeError,
  decodeImage,
  decodeInto,
  type DecodeOptions,
  decodePixels,
  type FitMode,
  mapLimit,
  peekDepth,
  pixelsToUnit,
  type PixelTarget,
  type RawPixels,
} from "./decode.ts";
export { PixelBatch, unitTable } from "./pixel_batch.ts";
export {
  type CacheEntry,
  type DecodedCacheStats,
  DecodedImageCache,
  type SourceIdentity,
  type StoredPixels,
} from "./decoded_cache.ts";
export {
  type FileStamp,
  fileStamp,
  greyChannel,
  removeStaleTemporaries,
} from "./decoded_cache_files.ts";
export {
  type CachedDecodeJob,
  cacheStatsOf,
  decodeCachedInto,
  formatCacheStats,
} from "./decoded_cache_use.ts";
export { FASHION_MNIST_DIR, moduleEntries, sourceEntries } from "./entries.ts";
export {
  batchesPerEpochOf,
  type FileBackedSource,
  FileImageSource,
  type FileSourceOptions,
  type MultiLabelBatch,
  type SampleRecord,
} from "./file_source.ts";
export { checkFilterColumns, parseFilter, passesFilters, type RowFilter } from "./filters.ts";
export { createImageFolderSource, type ImageFolderParams } from "./image_folder.ts";
export { encodeIdx, findIdxFile, type IdxArray, IdxError, parseIdx, readIdx } from "./idx.ts";
export { createManifestSource, type ManifestParams, resolvePath } from "./manifest.ts";
export { createMimicSource, type MimicParams, studyDir } from "./mimic.ts";
export {
  createMnistSource,
  defaultMnistDir,
  IdxImageSource,
  type IdxImageSourceOptions,
  type IdxSplitData,
  type MnistParams,
} from "./mnist.ts";
export {
  collapseWhitespace,
  DEFAULT_REPORT_TEXT,
  extractReportText,
  lastParagraph,
  normalizeSectionName,
  type ReportFallback,
  type ReportSection,
  reportSections,
  type ReportTextOptions,
} from "./report_sections.ts";
export { epochOrder, holdOut, sampleChoice } from "./shuffle.ts";
export {
  classIndices,
  type FractionSplit,
  fractionSplit,
  heldOutLayout,
  heldOutRows,
} from "./splits.ts";
export {
  readTable,
  requireColumns,
  type Table,
  type TableFormat,
  tableFormat,
  type TableRow,
} from "./table.ts";
export { readTarSamples, splitMemberName, type TarSample, writeTarShard } from "./tar_samples.ts";
export {
  type CropBox,
  sampleCropBox,
  sampleViewBoxes,
  ViewAugment,
  type ViewsConfig,
} from "./views.ts";
export { createWebDatasetSource, type WebDatasetParams, WebDatasetSource } from "./webdataset.ts";
export {
  sampleFields,
  type SampleProblem,
  shardSamples,
  type StreamSample,
  type WdsFields,
} from "./webdataset_stream.ts";
export { warmDecodedCache, type WarmOptions, type WarmSplit } from "./warm_cache.ts";
