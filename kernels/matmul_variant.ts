/**
 * What a matmul call asks of the generated program (`kernels/matmul.ts`):
 * whether its epilogue inputs are ones the kernel covers, and the program
 * variant for its plan and tiling.
 *
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { MatMulActivation, MatMulTile, MatMulVariant } from "./matmul_program.ts";
import type { MatMulPlan } from "./matmul_plan.ts";
import type { NovalabMatMulOptions } from "./matmul.ts";

const elementsOf = (t: TensorInfo): number => t.shape.reduce((p, d) => p * d, 1);

/**
 * Whether the kernel covers `o`'s epilogue inputs for `plan`: a float32 bias
 * over n, a float32 residual and gate of the output's size, no column sums
 * with f16 staging or with the pre-activation.
 */
export function epilogueCovered(
  plan: MatMulPlan,
  o: NovalabMatMulOptions,
  columnSums: boolean,
  f16: boolean,
): boolean {
  const outputSize = plan.batch * plan.m * plan.n;
  const bias = o.bias ?? null;
  if (bias) {
    const vectorOverN = elementsOf(bias) === plan.n &&
      bias.shape.slice(0, -1).every((d) => d === 1) && bias.shape.length <= plan.outShape.length;
    if (bias.dtype !== "float32" || !vectorOverN) return false;
  }
  for (const t of [o.residual ?? null, o.gate?.input ?? null]) {
    if (t && (t.dtype !== "float32" || elementsOf(t) !== outputSize)) return false;
  }
  return !(columnSums && (f16 || o.preActivation === true));
}

/** The program's variant for `plan` cut as `tiling` (a split product's epilogue runs later). */
export function matMulVariant(
  plan: MatMulPlan,
  tiling: { tile: MatMulTile; splits: number },
  o: NovalabMatMulOptions,
  flags: { columnSums: boolean; f16: boolean },
): MatMulVariant {
  const split = tiling.splits > 1;
  const activation = (o.activation ?? "linear") as MatMulActivation;
  return {
    tile: tiling.tile,
    transposeA: o.transposeA,
    transposeB: o.transposeB,
    vec4A: (o.transposeA ? plan.m : plan.k) % 4 === 0,
    vec4B: (o.transposeB ? plan.k : plan.n) % 4 === 0,
    vec4Out: plan.n % 4 === 0,
    bias: (o.bias ?? null) !== null && !split,
    activation: split ? "linear" : activation,
    residual: (o.residual ?? null) !== null && !split,
    f16: flags.f16,
    columnSums: flags.columnSums,
    splitK: split,
    preActivation: o.preActivation === true,
    ...(o.gate ? { gate: o.gate.activation } : {}),
  };
}
