/**
 * Learning-rate schedules: constant and linear warm-up followed by cosine decay.
 *
 * @module
 */

/** The schedule kinds {@linkcode learningRate} knows. */
export type ScheduleKind = "constant" | "warmup_cosine";

/** Every valid {@linkcode ScheduleKind}, for schemas and error messages. */
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ["constant", "warmup_cosine"];

/** Options of {@linkcode learningRate}. */
export interface ScheduleOptions {
  /** Peak learning rate (finite, `>= 0`). */
  base: number;
  /** `constant`: `base` after the warm-up; `warmup_cosine`: warm-up, then cosine decay. */
  kind: ScheduleKind;
  /** Warm-up steps (integer `>= 0`, default 0 = no warm-up). */
  warmup?: number;
  /** Step at which the cosine reaches `base · minRatio` (integer `> warmup`; required for `warmup_cosine`). */
  total?: number;
  /** Final learning rate as a fraction of `base`, in `[0, 1]` (default 0). */
  minRatio?: number;
}

function fail(key: string, value: unknown, expected: string): never {
  throw new RangeError(`learningRate: ${key} = ${JSON.stringify(value)}; expected ${expected}`);
}

/**
 * The learning rate of 0-based optimiser step `step`.
 *
 * Warm-up (both kinds, when `warmup > 0`): `lr = base · (step + 1) / warmup` for
 * `step < warmup`, so step 0 gets `base / warmup` and step `warmup − 1` is the
 * first to reach `base` (no step is spent at learning rate 0).
 *
 * `warmup_cosine` then decays for `step >= warmup`:
 * `lr = base · (r + (1 − r) · ½(1 + cos(π · p)))` with `r = minRatio` and
 * `p = min(1, (step − warmup) / (total − warmup))`; step `warmup` is also at
 * `base`, `lr(total) = base · minRatio`, and steps past `total` stay there. With
 * `total` training steps (0 … total−1) the last step is just above the floor,
 * as in timm and Hugging Face.
 *
 * @param step 0-based optimiser step (integer `>= 0`).
 * @param options Schedule parameters; see {@linkcode ScheduleOptions}.
 * @returns The learning rate for that step.
 */
export function learningRate(step: number, options: ScheduleOptions): number {
  const { base, kind, warmup = 0, minRatio = 0 } = options;
  if (!Number.isInteger(step) || step < 0) fail("step", step, "an integer >= 0");
  const total = validate(options);
  if (step < warmup) return (base * (step + 1)) / warmup;
  if (kind === "constant") return base;
  const progress = Math.min(1, (step - warmup) / (total - warmup));
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return base * (minRatio + (1 - minRatio) * cosine);
}

/** Checks every option (whatever the step); returns `total` (or `Infinity` for `constant`). */
function validate(options: ScheduleOptions): number {
  const { base, kind, warmup = 0, minRatio = 0, total } = options;
  if (!Number.isFinite(base) || base < 0) fail("base", base, "a finite number >= 0");
  if (!Number.isInteger(warmup) || warmup < 0) fail("warmup", warmup, "an integer >= 0");
  if (!SCHEDULE_KINDS.includes(kind)) {
    fail("kind", kind, `one of ${SCHEDULE_KINDS.join(", ")}`);
  }
  if (kind === "constant") return Infinity;
  if (total === undefined || !Number.isInteger(total) || total <= warmup) {
    fail("total", total, `an integer > warmup (${warmup}) for kind warmup_cosine`);
  }
  if (!(minRatio >= 0 && minRatio <= 1)) fail("minRatio", minRatio, "a number in [0, 1]");
  return total;
}
