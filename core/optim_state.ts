/**
 * The layout of AdamW's checkpoint state (`core/optim.ts` `AdamW.state`) and
 * its validation before a load assigns anything: `optim.step` (an int32
 * scalar), `optim.m.<param>` and `optim.v.<param>` shaped like the parameter, and
 * `optim.first.<N>` (an int32 scalar: the count before the first update of
 * the parameters that start training at step `N`, `startStep`) once they have.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";

/** Name of the step counter in AdamW's state (an int32 scalar). */
export const OPTIM_STEP_KEY = "optim.step";
/** Prefix of first-moment tensors in AdamW's state: `optim.m.<param name>`. */
export const OPTIM_M_PREFIX = "optim.m.";
/** Prefix of second-moment tensors in AdamW's state: `optim.v.<param name>`. */
export const OPTIM_V_PREFIX = "optim.v.";
/** Prefix of first-update counts in AdamW's state: `optim.first.<start step>` (int32 scalar). */
export const OPTIM_FIRST_PREFIX = "optim.first.";

/** The parameter names for an error message, the first ten when there are more. */
export function knownNames(params: Map<string, Parameter>): string {
  const names = [...params.keys()];
  return names.length <= 10
    ? names.join(", ")
    : `${names.slice(0, 10).join(", ")}, … (${names.length} in all)`;
}

/** Every `optim.*` key names a known parameter; every parameter has `m` and `v` of its shape. */
function checkKeys(state: Map<string, Tensor>, params: Map<string, Parameter>): void {
  for (const key of state.keys()) {
    if (!key.startsWith("optim.") || key === OPTIM_STEP_KEY) continue;
    if (key.startsWith(OPTIM_FIRST_PREFIX)) continue; // checkFirstCounts
    const name = key.startsWith(OPTIM_M_PREFIX)
      ? key.slice(OPTIM_M_PREFIX.length)
      : key.startsWith(OPTIM_V_PREFIX)
      ? key.slice(OPTIM_V_PREFIX.length)
      : undefined;
    if (name === undefined || !params.has(name)) {
      throw new Error(
        `AdamW.load: unknown optimiser state '${key}'; expected '${OPTIM_STEP_KEY}', ` +
          `'${OPTIM_FIRST_PREFIX}<start step>' or '${OPTIM_M_PREFIX}'/'${OPTIM_V_PREFIX}' + ` +
          `one of: ${knownNames(params)}`,
      );
    }
  }
  for (const [name, param] of params) {
    for (const key of [`${OPTIM_M_PREFIX}${name}`, `${OPTIM_V_PREFIX}${name}`]) {
      const x = state.get(key);
      if (!x || !tf.util.arraysEqual(x.shape, param.variable.shape)) {
        throw new Error(
          `AdamW.load: '${key}' ${x ? `has shape [${x.shape}]` : "is missing"}; ` +
            `expected shape [${param.variable.shape}]`,
        );
      }
    }
  }
}

/**
 * The `optim.first.<N>` counts: `N` a start step of some parameter, each an
 * integer scalar in `[0, step]`.
 */
async function checkFirstCounts(
  state: Map<string, Tensor>,
  params: Map<string, Parameter>,
  step: number,
): Promise<Map<number, number>> {
  const starts = new Set([...params.values()].map((p) => p.startStep ?? 0).filter((s) => s > 0));
  const out = new Map<number, number>();
  for (const [key, value] of state) {
    if (!key.startsWith(OPTIM_FIRST_PREFIX)) continue;
    const start = Number(key.slice(OPTIM_FIRST_PREFIX.length));
    if (!starts.has(start)) {
      throw new Error(
        `AdamW.load: '${key}' is for parameters that start at step ` +
          `${key.slice(OPTIM_FIRST_PREFIX.length)}; these start at ${
            starts.size ? [...starts].join(", ") : "step 0 (none later)"
          }`,
      );
    }
    const count = value.rank === 0 ? (await value.data())[0]! : NaN;
    if (!Number.isInteger(count) || count < 0 || count > step) {
      throw new RangeError(
        `AdamW.load: '${key}' must be an integer scalar in [0, ${step}] (the count before ` +
          `their first update), got ${value.rank === 0 ? count : `shape [${value.shape}]`}`,
      );
    }
    out.set(start, count);
  }
  return out;
}

/**
 * Validates an optimiser state map for `params` (by name) completely, before
 * anything is assigned; returns its step and the first-update counts by start
 * step. Keys not starting with `optim.` are ignored (a whole checkpoint can be
 * passed).
 */
export async function checkOptimizerState(
  state: Map<string, Tensor>,
  params: Map<string, Parameter>,
): Promise<{ step: number; first: Map<number, number> }> {
  const step = state.get(OPTIM_STEP_KEY);
  if (!step || step.rank !== 0) {
    throw new Error(
      `AdamW.load: '${OPTIM_STEP_KEY}' must be a scalar, got ${
        step ? `shape [${step.shape}]` : "nothing"
      }`,
    );
  }
  const t = (await step.data())[0];
  if (!Number.isInteger(t) || t < 0) {
    throw new RangeError(`AdamW.load: '${OPTIM_STEP_KEY}' must be an integer >= 0, got ${t}`);
  }
  checkKeys(state, params);
  return { step: t!, first: await checkFirstCounts(state, params, t!) };
}
