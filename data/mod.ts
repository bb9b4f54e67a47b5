/**
 * The data room: IDX reading, the `mnist` source (any MNIST-style IDX
 * directory), caption templates, deterministic data order and the batched
 * `views` augmentation module. Register `sourceEntries` and `moduleEntries`
 * with the core registries.
 *
 * @module
 */
export { DEFAULT_CAPTIONS, DIGIT_WORDS, fillCaption, PLACEHOLDER } from "./captions.ts";
export { moduleEntries, sourceEntries } from "./entries.ts";
export { encodeIdx, findIdxFile, type IdxArray, IdxError, parseIdx, readIdx } from "./idx.ts";
export {
  createMnistSource,
  defaultMnistDir,
  IdxImageSource,
  type IdxImageSourceOptions,
  type IdxSplitData,
  type MnistParams,
} from "./mnist.ts";
export { epochOrder, holdOut, sampleChoice } from "./shuffle.ts";
export {
  type CropBox,
  sampleCropBox,
  sampleViewBoxes,
  ViewAugment,
  type ViewsConfig,
} from "./views.ts";
