/**
 * Loss terms: small pure functions of named tensors, plus their registry
 * entries. CLIP ({@link https://arxiv.org/abs/2103.00020 | arXiv 2103.00020}),
 * SIGReg and the LeJEPA invariance term
 * ({@link https://arxiv.org/abs/2511.08544 | arXiv 2511.08544}), the NOVA
 * prediction term ({@link https://arxiv.org/abs/2602.00653 | arXiv 2602.00653}),
 * SigLIP ({@link https://arxiv.org/abs/2303.15343 | arXiv 2303.15343}),
 * nCLIP ({@link https://arxiv.org/abs/2210.09304 | arXiv 2210.09304}),
 * ITO's fusion loss ({@link https://arxiv.org/abs/2603.02767 | arXiv 2603.02767})
 * and the latent-modality-structure terms
 * ({@link https://arxiv.org/abs/2303.05952 | arXiv 2303.05952}).
 *
 * @module
 */
export { clipLoss, type ClipLossOptions } from "./clip.ts";
export { multiPositiveClipLoss, positivePairs, textGroupIds } from "./multi_positive.ts";
export {
  DEFAULT_MAX_CHUNK_FLOATS,
  eppsPulley,
  type EppsPulleyOptions,
  type Quadrature,
  type QuadratureNodes,
  quadratureNodes,
  QUADRATURES,
} from "./epps_pulley.ts";
export { predictionLoss } from "./prediction.ts";
export { randomDirections, sigreg, type SigregOptions } from "./sigreg.ts";
export { sigLipLoss, type SigLipLossOptions } from "./siglip.ts";
export { invarianceLoss, type InvarianceLossOptions } from "./lejepa.ts";
export {
  nclipLoss,
  type NclipOptions,
  type NclipTerms,
  nclipTerms,
  prototypeUsage,
  type PrototypeUsageOptions,
} from "./nclip.ts";
export { itoFusionLoss, type ItoFusionLossOptions } from "./ito_fusion.ts";
export { ntXentLoss, type NtXentLossOptions } from "./ntxent.ts";
export { contrastive4Loss, type Contrastive4Options } from "./contrastive4.ts";
export {
  featureSeparationLoss,
  type FeatureSeparationOptions,
  type FeatureSeparationTerms,
  featureSeparationTerms,
  type ModalityFeatures,
  uniformityLoss,
} from "./feature_separation.ts";
export { brownianBridgeLoss, type BrownianBridgeOptions } from "./brownian_bridge.ts";
export {
  geometricConsistencyLoss,
  type GeometricConsistencyOptions,
  type GeometricConsistencyTerms,
  geometricConsistencyTerms,
} from "./geometric_consistency.ts";
export { cyclipLoss, type CyclipOptions, type CyclipTerms, cyclipTerms } from "./cyclip.ts";
export { lossEntries } from "./entries.ts";
