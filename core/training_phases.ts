/**
 * The phases of a training run whose nodes start training at different steps
 * (`freeze: { until: N }`) or whose modules change what they compute
 * (`patch_dropout: { until: N }`): which parameters a step trains, and the
 * replay counts of the device steps that earlier phases recorded and dropped.
 *
 * @module
 */
import type { CompiledGraph } from "./graph_run.ts";
import type { ReplayStats } from "./replayable_step.ts";
import type { Parameter } from "./types.ts";

/** Tracks the phase a trainer is in: a new one starts at each of the graph's `phaseSteps`. */
export class TrainingPhases {
  /** Steps at which a phase starts (after 0), ascending. */
  readonly #starts: number[];
  /** Unfreeze steps passed by the last step entered (-1 before the first). */
  #phase = -1;
  /** Replays, recordings and submit time of earlier phases' device steps. */
  #earlier = { replays: 0, recordings: 0, submitMs: 0 };

  /** @param graph The training graph (its nodes' `frozenUntil`). */
  constructor(readonly graph: CompiledGraph) {
    this.#starts = graph.phaseSteps();
  }

  /**
   * Enters step `step` (0-based; steps come in order, or from a resumed
   * step): the parameters it trains when the phase changed there (the first
   * step entered included), else `null`.
   */
  enter(step: number): Parameter[] | null {
    const phase = this.#starts.filter((s) => s <= step).length;
    if (phase === this.#phase) return null;
    this.#phase = phase;
    return this.graph.parameters(step);
  }

  /** Adds a dropped device step's replay counts to the run's. */
  retire(stats: ReplayStats | null): void {
    if (!stats) return;
    this.#earlier.replays += stats.replays;
    this.#earlier.recordings += stats.recordings;
    this.#earlier.submitMs += stats.submitMs;
  }

  /** `now` (the current device step's stats) with earlier phases' counts added. */
  total(now: ReplayStats | null): ReplayStats | null {
    if (!now) return null;
    const earlier = this.#earlier;
    return {
      ...now,
      replays: now.replays + earlier.replays,
      recordings: now.recordings + earlier.recordings,
      submitMs: now.submitMs + earlier.submitMs,
    };
  }
}
