/**
 * `sweep.json`: what a sweep directory holds — name, factors, toggles, table
 * columns and every member with its `--set` list — written atomically before
 * any member runs. It has no timestamps, so shards of one sweep write the same
 * bytes into a shared directory.
 *
 * @module
 */
import { writeJsonAtomic } from "../core/atomic.ts";
import type { SweepMember, SweepMetric, SweepSpec } from "./types.ts";

/** One member as `sweep.json` lists it. */
export type ManifestMember = Omit<SweepMember, "origins">;

/** The content of `sweep.json`. */
export interface SweepManifest {
  /** Sweep name. */
  name: string;
  /** The sweep file, as given on the command line. */
  file: string;
  /** Grid factor keys in file order. */
  factors: string[];
  /** Toggle name → description. */
  toggles: Record<string, string>;
  /** Table columns in order. */
  metrics: SweepMetric[];
  /** Every member (all shards), in expansion order. */
  members: ManifestMember[];
}

/** The manifest of `spec` expanded into `members`. */
export function sweepManifest(spec: SweepSpec, members: readonly SweepMember[]): SweepManifest {
  return {
    name: spec.name,
    file: spec.file,
    factors: spec.grid.map((f) => f.key),
    toggles: Object.fromEntries(spec.toggles.map((t) => [t.name, t.description])),
    metrics: spec.metrics.map((m) => ({ label: m.label, key: m.key, better: m.better })),
    members: members.map((m) => ({
      index: m.index,
      id: m.id,
      variant: m.variant,
      recipe: m.recipe,
      recipe_file: m.recipe_file,
      toggle: m.toggle,
      grid: m.grid,
      seed: m.seed,
      sets: m.sets,
    })),
  };
}

/** Writes `<dir>/sweep.json` atomically (creating `dir`). */
export async function writeManifest(dir: string, manifest: SweepManifest): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeJsonAtomic(`${dir}/sweep.json`, manifest);
}
