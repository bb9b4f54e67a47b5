/**
 * WGSL for the pointwise activations novalab's normalisation kernels apply
 * after normalising (`kernels/batchnorm_programs.ts`): `nlAct(z)` and its
 * derivative `nlActGrad(z)`, both taken at the pre-activation `z`.
 *
 * - `identity`: `z`, derivative 1;
 * - `relu`: `max(z, 0)`, derivative 1 where `z > 0` (0 at 0, as tfjs's `Step`);
 * - `gelu`: exact `0.5·z·(1 + erf(z/√2))`, derivative
 *   `0.5·(1 + erf(z/√2)) + z·exp(−z²/2)/√(2π)` (erf as in
 *   `kernels/matmul_shader_parts.ts`, Abramowitz & Stegun 7.1.26);
 * - `tanh`: `tanh(z)` on `z` clamped to ±15 (where it is ±1 in f32; WGSL's
 *   tanh may overflow to NaN beyond), derivative `1 − tanh²(z)`.
 *
 * @module
 */
import { erfLines } from "./matmul_shader_parts.ts";

/** Activations a fused normalisation kernel can apply. */
export type PointwiseActivation = "identity" | "relu" | "gelu" | "tanh";

/** Every {@linkcode PointwiseActivation}, in the order recipes document them. */
export const POINTWISE_ACTIVATIONS: readonly PointwiseActivation[] = [
  "identity",
  "relu",
  "gelu",
  "tanh",
];

/** True when `name` is a {@linkcode PointwiseActivation}. */
export function isPointwiseActivation(name: string | undefined): name is PointwiseActivation {
  return (POINTWISE_ACTIVATIONS as readonly string[]).includes(name ?? "");
}

/** WGSL functions `nlAct(z: f32) -> f32` and `nlActGrad(z: f32) -> f32` for `activation`. */
export function activationFunctions(activation: PointwiseActivation): string {
  switch (activation) {
    case "identity":
      return `fn nlAct(z : f32) -> f32 { return z; }
fn nlActGrad(z : f32) -> f32 { return 1.0; }`;
    case "relu":
      return `fn nlAct(z : f32) -> f32 { return max(z, 0.0); }
fn nlActGrad(z : f32) -> f32 { return select(0.0, 1.0, z > 0.0); }`;
    case "gelu":
      return `fn nlAct(z : f32) -> f32 {
  ${erfLines("z * 0.7071067811865476", "e")}
  return 0.5 * z * (1.0 + e);
}
fn nlActGrad(z : f32) -> f32 {
  ${erfLines("z * 0.7071067811865476", "e")}
  return 0.5 * (1.0 + e) + z * exp(-0.5 * z * z) * 0.3989422804014327;
}`;
    case "tanh":
      return `fn nlAct(z : f32) -> f32 { return tanh(clamp(z, -15.0, 15.0)); }
fn nlActGrad(z : f32) -> f32 { let h = tanh(clamp(z, -15.0, 15.0)); return 1.0 - h * h; }`;
  }
}
