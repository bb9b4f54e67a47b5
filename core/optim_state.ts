/**
 * The layout of AdamW's checkpoint state (`core/optim.ts` `AdamW.state`) and
 * its validation before a load assigns anything: `optim.step` (an int32
 * scalar), `optim.m.<param>` and `optim.v.<param>` shaped like the parameter, and
 * `optim.first.<param>` (an int32 scalar: the count before the parameter's
 * first update) for parameters that start training later (`startStep`).
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
/** Prefix of first-update counts in AdamW's state: `optim.first.<param name>` (int32 scalar). */
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
    const name = key.startsWith(OPTIM_M_PREFIX)
      ? key.slice(OPTIM_M_PREFIX.length)
      : key.startsWith(OPTIM_V_PREFIX)
      ? key.slice(OPTIM_V_PREFIX.length)
      : key.startsWith(OPTIM_FIRST_PREFIX)
      ? key.slice(OPTIM_FIRST_PREFIX.length)
      : undefined;
    if (name === undefined || !params.has(name)) {
      throw new Error(
        `AdamW.load: unknown optimiser state '${key}'; expected '${OPTIM_STEP_KEY}' or ` +
          `'${OPTIM_M_PREFIX}'/'${OPTIM_V_PREFIX}'/'${OPTIM_FIRST_PREFIX}' + one of: ` +
          knownNames(params),
      );
    }
    if (key.startsWith(OPTIM_FIRST_PREFIX) && state.get(key)!.rank !== 0) {
      throw new Error(
        `AdamW.load: '${key}' must be a scalar, got shape [${state.get(key)!.shape}]`,
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
 * Validates an optimiser state map for `params` (by name) completely, before
 * anything is assigned; returns its step. Keys not starting with `optim.` are
 * ignored (a whole checkpoint can be passed).
 */
export async function checkOptimizerState(
  state: Map<string, Tensor>,
  params: Map<string, Parameter>,
): Promise<number> {
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
  return t!;
}
