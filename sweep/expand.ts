/**
 * The deterministic expansion of a sweep: recipes (file order) × grid
 * (row-major, keys in file order) × [baseline, applicable toggles in file
 * order] × seeds. Member ids, variants and `--shard i/n` slices. Pure
 * functions: the same sweep file always yields the same members in the same
 * order, on every machine.
 *
 * @module
 */
import { parse as parseYamlValue } from "yaml";
import { formatKeyPath } from "../core/recipe/tree.ts";
import type { SweepFactor, SweepMember, SweepSpec } from "./types.ts";

/** Replaces every character outside `[A-Za-z0-9._=+,-]` with `_`. */
export function sanitizeId(text: string): string {
  return text.replace(/[^A-Za-z0-9._=+,-]/g, "_");
}

/**
 * A grid value as override text: numbers and booleans as written, strings
 * plain when YAML reads them back as the same string (else JSON-quoted),
 * lists and maps as JSON (which YAML reads).
 */
export function formatValue(value: unknown): string {
  if (typeof value === "string") {
    let back: unknown;
    try {
      back = parseYamlValue(value);
    } catch {
      back = undefined;
    }
    return back === value && !/[\s#,[\]{}]/.test(value) ? value : JSON.stringify(value);
  }
  return value === null
    ? "null"
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value);
}

/** The part of a key path that names a factor in ids: the text after its last `.`. */
export function factorName(key: string): string {
  return key.slice(key.lastIndexOf(".") + 1);
}

/** `<recipe>[+<toggle>][,<factor>=<value>...]-s<seed>`, sanitised (see {@link sanitizeId}). */
export function memberId(parts: {
  recipe: string;
  toggle: string | null;
  grid: [key: string, value: unknown][];
  seed: number;
}): string {
  const toggle = parts.toggle === null ? "" : `+${parts.toggle}`;
  const grid = parts.grid.map(([k, v]) => `,${factorName(k)}=${formatValue(v)}`).join("");
  return sanitizeId(`${parts.recipe}${toggle}${grid}-s${parts.seed}`);
}

/** A member id without its `-s<seed>` suffix. */
export function variantOf(id: string): string {
  return id.replace(/-s\d+$/, "");
}

/** Every combination of the factors' values, row-major (the last factor varies fastest). */
export function gridRows(factors: readonly SweepFactor[]): { value: unknown; at: number }[][] {
  let rows: { value: unknown; at: number }[][] = [[]];
  for (const factor of factors) {
    rows = rows.flatMap((row) => factor.values.map((value, at) => [...row, { value, at }]));
  }
  return rows;
}

/** Expands `spec` into its members, in the contract's order, with their `--set` lists. */
export function expandSweep(spec: SweepSpec): SweepMember[] {
  const members: SweepMember[] = [];
  const base = spec.set.map((_, i) => formatKeyPath(["set", i]));
  for (const recipe of spec.recipes) {
    const toggles = [
      null,
      ...spec.toggles.filter((t) => t.recipes === undefined || t.recipes.includes(recipe.label)),
    ];
    for (const row of gridRows(spec.grid)) {
      const pairs = row.map((cell, f): [string, unknown] => [spec.grid[f]!.key, cell.value]);
      const gridSets = pairs.map(([k, v]) => `${k}=${formatValue(v)}`);
      const gridOrigins = row.map((cell, f) => formatKeyPath(["grid", spec.grid[f]!.key, cell.at]));
      for (const toggle of toggles) {
        const toggleOrigins = (toggle?.set ?? []).map((_, i) =>
          formatKeyPath(["toggles", toggle!.name, "set", i])
        );
        spec.seeds.forEach((seed, s) => {
          const id = memberId({
            recipe: recipe.label,
            toggle: toggle?.name ?? null,
            grid: pairs,
            seed,
          });
          members.push({
            index: members.length,
            id,
            variant: variantOf(id),
            recipe: recipe.label,
            recipe_file: recipe.file,
            toggle: toggle?.name ?? null,
            grid: Object.fromEntries(pairs),
            seed,
            sets: [...spec.set, ...gridSets, ...(toggle?.set ?? []), `seed=${seed}`],
            origins: [...base, ...gridOrigins, ...toggleOrigins, formatKeyPath(["seeds", s])],
          });
        });
      }
    }
  }
  return members;
}

/** A slice of a sweep: the members whose index % `count` == `index`. */
export interface Shard {
  /** This shard, 0 ≤ index < count. */
  index: number;
  /** Number of shards. */
  count: number;
}

/**
 * Parses `--shard i/n` (0 ≤ i < n). Throws an error naming the value, what
 * was expected and an example (`0/4` … `3/4`) when it is malformed.
 */
export function parseShard(text: string): Shard {
  const form = "i/n with integers 0 ≤ i < n, e.g. 0/4, 1/4, 2/4 and 3/4 for four shards";
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`--shard ${JSON.stringify(text)}: not of the form i/n; expected ${form}`);
  const index = Number(m[1]), count = Number(m[2]);
  if (count < 1) {
    throw new Error(`--shard ${text}: the shard count n is ${count}; expected n ≥ 1 (${form})`);
  }
  if (index >= count) {
    throw new Error(
      `--shard ${text}: shard index ${index} is out of range for ${count} shards; ` +
        `expected 0 to ${count - 1} (${form})`,
    );
  }
  return { index, count };
}

/** The members of `shard` (all of them without one), in expansion order. */
export function shardMembers(members: readonly SweepMember[], shard?: Shard): SweepMember[] {
  return shard ? members.filter((m) => m.index % shard.count === shard.index) : [...members];
}
