/**
 * The fusion loss of ITO
 * ({@link https://arxiv.org/abs/2603.02767 | arXiv 2603.02767}): NT-Xent
 * across the fused embeddings of two augmented views.
 *
 * With S1, S2 `[B, D]` (L2-normalised fused embeddings of view 1 and view 2,
 * sample i in row i) stacked into Z = [S1; S2] `[2B, D]` and the CLIP logit
 * scale s as inverse temperature, each of the 2B rows is an anchor whose
 * positive is the same sample's other view and whose negatives are all other
 * 2B − 2 rows (self-similarity masked):
 *
 *   ℓ = s · Z Zᵀ                                       `[2B, 2B]`
 *   loss = (1/2B) Σ_a [ log Σ_{c ≠ a} exp ℓ_ac − ℓ_a,pos(a) ]
 *
 * i.e. the symmetric average of the S1→S2 and S2→S1 directions — SimCLR's
 * NT-Xent (`losses/ntxent.ts`) at CLIP's scale. At s = 0 the loss is exactly
 * ln(2B − 1). ITO trains L_align + λ·L_fusion with λ = 2.
 *
 * @module
 */
import type { Scalar, Tensor2D } from "../core/tensor.ts";
import { ntXentLoss } from "./ntxent.ts";

/** Options of {@linkcode itoFusionLoss}. */
export interface ItoFusionLossOptions {
  /** Logit scale s (ITO shares CLIP's exp θ); a scalar tensor keeps its gradient. */
  scale: number | Scalar;
}

/**
 * Symmetric NT-Xent between two views' fused embeddings
 * ({@linkcode ntXentLoss} with CLIP's logit scale as the inverse temperature).
 *
 * @param s1 Fused embeddings of view 1 `[B, D]`, L2-normalised.
 * @param s2 Fused embeddings of view 2 `[B, D]`, L2-normalised; row i is sample i.
 * @param options The logit scale.
 * @returns The scalar loss (ln(2B − 1) at scale 0).
 */
export function itoFusionLoss(s1: Tensor2D, s2: Tensor2D, options: ItoFusionLossOptions): Scalar {
  return ntXentLoss(s1, s2, options);
}
