/**
 * The data of a sweep: the validated sweep file ({@link SweepSpec}), one
 * expanded member ({@link SweepMember}) and a member's `status.json`
 * ({@link MemberStatus}). The file format and the directory layout are
 * described in `docs/sweeps.md`.
 *
 * @module
 */
import type { Metrics } from "../core/components.ts";
import type { SourceLocation } from "../core/types.ts";

/** A table column: `key` is `<evaluator name>.<metric>`, e.g. `zero_shot.top1`. */
export interface SweepMetric {
  /** Column heading. */
  label: string;
  /** `<evaluator name>.<metric>` as found in a member's `eval.json`. */
  key: string;
  /** Which direction is better (default `higher`). */
  better: "higher" | "lower";
}

/** A named ablation: extra overrides applied to a variant, once per toggle. */
export interface SweepToggle {
  /** Name (appears in member ids as `+<name>`). */
  name: string;
  /** What the toggle switches off (default: its overrides, joined). */
  description: string;
  /** Recipe labels it applies to (`undefined`: all of them). */
  recipes?: string[];
  /** Its `--set` overrides. */
  set: string[];
}

/** One grid factor: a key path and the values it takes, in file order. */
export interface SweepFactor {
  /** Override key path, e.g. `vars.lambda`. */
  key: string;
  /** Values in file order (scalars, or lists/maps written as YAML). */
  values: unknown[];
}

/** A validated sweep file. */
export interface SweepSpec {
  /** Sweep name (default: the file name without extension). */
  name: string;
  /** The sweep file, as given. */
  file: string;
  /** Recipes in file order: label and path (resolved against the sweep file's folder). */
  recipes: { label: string; file: string }[];
  /** Overrides applied to every member. */
  set: string[];
  /** Grid factors in file order. */
  grid: SweepFactor[];
  /** Toggles in file order. */
  toggles: SweepToggle[];
  /** Seeds in file order. */
  seeds: number[];
  /** Table columns in order. */
  metrics: SweepMetric[];
  /** Where the value at a key path of the sweep file (`set[0]`, `grid["vars.lambda"][1]`) is written. */
  locate(keyPath: string): SourceLocation;
}

/** One member of an expanded sweep: a recipe, a grid row, a toggle (or none) and a seed. */
export interface SweepMember {
  /** Position in the expansion order (what `--shard i/n` partitions). */
  index: number;
  /** Unique id, also its directory name under `members/`. */
  id: string;
  /** The id without its `-s<seed>` suffix: what the table groups seeds by. */
  variant: string;
  /** Recipe label. */
  recipe: string;
  /** Recipe file (relative to the working directory). */
  recipe_file: string;
  /** Toggle name, or `null` for the baseline. */
  toggle: string | null;
  /** Grid values of this member by factor key. */
  grid: Record<string, unknown>;
  /** The seed. */
  seed: number;
  /** The member's `--set` list: sweep `set`, grid overrides, toggle `set`, `seed=<s>`. */
  sets: string[];
  /** Key path in the sweep file that each entry of `sets` came from (for error messages). */
  origins: string[];
}

/** State of a member: `running` also means killed while running. */
export type MemberState = "done" | "failed" | "running";

/** A member's `status.json`. */
export interface MemberStatus {
  /** Where the member stands. */
  state: MemberState;
  /** When the latest attempt started (ISO time). */
  started: string;
  /** When it ended (ISO time; absent while running). */
  finished?: string;
  /** Seconds the latest attempt took (build, training, evaluation). */
  wall_s?: number;
  /** Completed training steps. */
  steps?: number;
  /** Mean training images/s of the latest attempt. */
  images_per_s?: number;
  /** Step the latest attempt resumed from (absent when it started from scratch). */
  resumed_from?: number;
  /** Evaluation results by evaluator name (done only). */
  eval?: Record<string, Metrics>;
  /** What went wrong (failed only). */
  error?: string;
}
