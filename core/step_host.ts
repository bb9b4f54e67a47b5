/**
 * What a replayed step's host values (`hostValue`, `core/step_recording.ts`)
 * may depend on besides their producer's own state: the step's seeds and its
 * host inputs (a batch's captions). A producer is written against the
 * recorded step's values and asks a {@linkcode StepHost} for their
 * counterparts in the step being replayed:
 *
 * ```text
 * hostValue((host) => directions(k, slices, host.seed(ctx.seed)))
 * hostValue((host) => embed(host.input(captions)))
 * ```
 *
 * Run as written (and while recording) the host is the identity. At a
 * replay, `seed(s)` re-derives `s` from the replayed step's root seeds along
 * the `deriveSeed` calls that made it from the recorded step's roots
 * (`core/rng.ts` reports every derivation while a step is recorded), and
 * `input(x)` gives the replayed step's host input at `x`'s position. A seed
 * not derived from a root, or an object that is not a host input, throws:
 * replaying it would silently reuse the recorded step's value.
 *
 * @module
 */
import { deriveSeed, onSeedDerived } from "./rng.ts";

/** Seeds and host inputs of one step (the trainer's: its micro-steps' seeds, its batches' strings). */
export interface StepHostContext {
  /** Root seeds the step's random numbers derive from. */
  seeds?: readonly number[];
  /** Non-tensor inputs host values read. */
  inputs?: readonly unknown[];
}

/** The replayed step's counterparts of the recorded step's seeds and host inputs. */
export interface StepHost {
  /** The seed that `recorded`, a seed derived in the recorded step, is in this step. */
  seed(recorded: number): number;
  /** This step's host input at the position the recorded step had `recorded`. */
  input<T>(recorded: T): T;
}

/** Seeds and inputs as they are: the host of a step run as written. */
export const SAME_STEP: StepHost = { seed: (s) => s, input: (x) => x };

/** How each seed derived while a step was recorded was made. */
export type SeedDerivations = Map<number, { parent: number; parts: (string | number)[] }>;

/** Starts logging `deriveSeed` calls into `into`; returns the function that stops. */
export function logSeedDerivations(into: SeedDerivations): () => void {
  return onSeedDerived((seed, parent, parts) => {
    if (!into.has(seed)) into.set(seed, { parent, parts: [...parts] });
  });
}

/**
 * The host of a replay: `recorded` is the recorded step's context and
 * `derivations` its seed log, `now` the replayed step's context.
 */
export function replayHost(
  recorded: StepHostContext,
  derivations: SeedDerivations,
  now: StepHostContext,
): StepHost {
  const roots = recorded.seeds ?? [];
  const newRoots = now.seeds ?? [];
  const inputs = recorded.inputs ?? [];
  const newInputs = now.inputs ?? [];
  if (roots.length !== newRoots.length || inputs.length !== newInputs.length) {
    throw new Error(
      `core/step_host.ts: the step was recorded with ${roots.length} seeds and ${inputs.length} ` +
        `host inputs, replayed with ${newRoots.length} and ${newInputs.length}`,
    );
  }
  const rebased = new Map<number, number>();
  const rebase = (seed: number, depth: number): number => {
    const known = rebased.get(seed);
    if (known !== undefined) return known;
    const root = roots.indexOf(seed);
    let out: number;
    if (root >= 0) out = newRoots[root]!;
    else {
      const made = derivations.get(seed);
      if (!made || depth > 64) {
        throw new Error(
          `core/step_host.ts: seed ${seed} was not derived (deriveSeed) from the step's seeds, ` +
            `so a replay cannot know its value in another step`,
        );
      }
      out = deriveSeed(rebase(made.parent, depth + 1), ...made.parts);
    }
    rebased.set(seed, out);
    return out;
  };
  return {
    seed: (s) => rebase(s, 0),
    input: <T>(x: T): T => {
      const at = inputs.indexOf(x);
      if (at < 0) {
        throw new Error(
          "core/step_host.ts: host value read an object the step was not given as a host input",
        );
      }
      return newInputs[at] as T;
    },
  };
}

/**
 * The host of a step being recorded: seeds and inputs as they are, but one
 * a replay could not follow (a seed not derived from the step's seeds, an
 * object that is not a host input) is reported to `refuse`, so the step is
 * never replayed rather than replayed wrong.
 */
export function recordingHost(
  context: StepHostContext,
  derivations: SeedDerivations,
  refuse: (reason: string) => void,
): StepHost {
  const roots = context.seeds ?? [];
  const inputs = context.inputs ?? [];
  return {
    seed: (s) => {
      let x = s;
      for (let depth = 0; !roots.includes(x); depth++) {
        const made = derivations.get(x);
        if (!made || depth > 64) {
          refuse(`a host value used seed ${s}, not derived (deriveSeed) from the step's seeds`);
          break;
        }
        x = made.parent;
      }
      return s;
    },
    input: (x) => {
      if (!inputs.includes(x)) {
        refuse("a host value read an object the step was not given as a host input");
      }
      return x;
    },
  };
}
