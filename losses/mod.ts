/**
 * Loss terms: small pure functions of named tensors, plus their registry
 * entries. CLIP ({@link https://arxiv.org/abs/2103.00020 | arXiv 2103.00020}),
 * SIGReg ({@link https://arxiv.org/abs/2511.08544 | arXiv 2511.08544}) and the
 * NOVA prediction term ({@link https://arxiv.org/abs/2602.00653 | arXiv 2602.00653}).
 *
 * @module
 */
export { clipLoss, type ClipLossOptions } from "./clip.ts";
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
export { lossEntries } from "./entries.ts";
