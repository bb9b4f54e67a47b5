/**
 * Reads a sweep directory (see `docs/sweeps.md`): `sweep.json`, the manifest
 * the sweep runner writes before any member runs, and each member's
 * `members/<id>/status.json`. A missing or corrupt `sweep.json` is an error; a
 * missing, unfinished or unreadable `status.json` only marks that member, so a
 * partial sweep still gets a report.
 *
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import type { SweepMember as ExpandedMember } from "../sweep/types.ts";

/** Which direction of a metric is better. */
export type Better = "higher" | "lower";

/** A metric column of the sweep (`metrics:` of the sweep file). */
export interface SweepMetric {
  /** Column label, e.g. `"zero-shot top-1"`. */
  label: string;
  /** `<evaluator name>.<metric>`, e.g. `"zero_shot.top1"`. */
  key: string;
  /** Which direction is better. */
  better: Better;
}

/** One member of the sweep as `sweep.json` lists it: the expansion's member without `origins`. */
export type SweepMember = Omit<ExpandedMember, "origins">;

/** The contents of `sweep.json`. */
export interface SweepManifest {
  /** Sweep name. */
  name: string;
  /** The sweep file it was expanded from. */
  file: string;
  /** Grid factor keys, in file order. */
  factors: string[];
  /** Toggle name → description. */
  toggles: Record<string, string>;
  /** Table columns, in order. */
  metrics: SweepMetric[];
  /** Members in expansion order. */
  members: SweepMember[];
}

/** A member's `status.json`. */
export interface MemberStatus {
  /** Run state. */
  state: "done" | "failed" | "running";
  /** ISO start time. */
  started?: string;
  /** ISO end time. */
  finished?: string;
  /** Wall time in seconds. */
  wall_s?: number;
  /** Optimiser steps taken. */
  steps?: number;
  /** Training throughput. */
  images_per_s?: number;
  /** Evaluation results: evaluator name → metric → value. */
  eval?: Record<string, Record<string, unknown>>;
  /** Error message (failed members). */
  error?: string;
}

/**
 * What became of a member: `done`, `failed`, `running` (status says running:
 * still going, or killed), `not run` (no `status.json`), `unreadable`
 * (`status.json` exists but is not valid).
 */
export type MemberOutcome = "done" | "failed" | "running" | "not run" | "unreadable";

/** A member with what its status file says. */
export interface MemberResult {
  /** The member as listed in `sweep.json`. */
  member: SweepMember;
  /** Its state. */
  state: MemberOutcome;
  /** Its parsed `status.json`, when readable. */
  status?: MemberStatus;
  /** Why it failed or could not be read. */
  error?: string;
}

/** The members of one variant (its seeds), in sweep order. */
export interface VariantGroup {
  /** Variant name (member id without `-s<seed>`). */
  variant: string;
  /** Recipe label. */
  recipe: string;
  /** Toggle name, or `null` for the baseline. */
  toggle: string | null;
  /** Grid factor → value. */
  grid: Record<string, unknown>;
  /** Its members (one per seed). */
  members: MemberResult[];
}

/** Everything the report needs from a sweep directory. */
export interface SweepResults {
  /** The sweep directory. */
  dir: string;
  /** The parsed `sweep.json`. */
  manifest: SweepManifest;
  /** Every member, in sweep order. */
  members: MemberResult[];
  /** Members grouped by variant, variants in order of first appearance. */
  variants: VariantGroup[];
  /** Problems that did not stop the report (unreadable status files). */
  warnings: string[];
}

const ID = /^[A-Za-z0-9._=+,-]+$/;

const manifestSchema = z.object({
  name: z.string(),
  file: z.string(),
  factors: z.array(z.string()).default([]),
  toggles: z.record(z.string(), z.string()).default({}),
  metrics: z.array(z.object({
    label: z.string(),
    key: z.string().min(1),
    better: z.enum(["higher", "lower"]).default("higher"),
  })),
  members: z.array(z.object({
    index: z.number().int().nonnegative(),
    id: z.string().regex(ID, "expected characters [A-Za-z0-9._=+,-] only")
      .refine((s) => s !== "." && s !== "..", "expected a directory name, not . or .."),
    variant: z.string().min(1),
    recipe: z.string(),
    recipe_file: z.string(),
    toggle: z.string().nullable().default(null),
    grid: z.record(z.string(), z.unknown()).default({}),
    seed: z.number(),
    sets: z.array(z.string()).default([]),
  })),
});

const statusSchema = z.object({
  state: z.enum(["done", "failed", "running"]),
  started: z.string().optional(),
  finished: z.string().optional(),
  wall_s: z.number().optional(),
  steps: z.number().optional(),
  images_per_s: z.number().optional(),
  eval: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  error: z.string().optional(),
});

/** `members[3].seed: expected number, received string` for the first few issues. */
function describe(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("").replace(/^\./, "");
    const input = "input" in issue && issue.input !== undefined
      ? JSON.stringify(issue.input) ?? ""
      : "";
    const got = input && input.length <= 60 && !/received/.test(issue.message)
      ? ` (got ${input})`
      : "";
    return `${path || "(top level)"}: ${issue.message}${got}`;
  }).join("; ");
}

/** Reads and parses a JSON file; `undefined` when it does not exist. */
async function readJson(path: string): Promise<{ value: unknown } | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Reads and checks `<dir>/sweep.json`.
 *
 * @throws naming the file and what is wrong, when it is missing, not JSON or
 *   not the manifest the sweep runner writes.
 */
export async function readManifest(dir: string): Promise<SweepManifest> {
  const path = join(dir, "sweep.json");
  const read = await readJson(path);
  if (!read) {
    throw new Error(
      `${path}: not found; expected the manifest a sweep writes before its members run ` +
        `(is '${dir}' a sweep directory made by 'deno task sweep'?)`,
    );
  }
  const parsed = manifestSchema.safeParse(read.value, { reportInput: true });
  if (!parsed.success) {
    throw new Error(`${path}: not a sweep manifest: ${describe(parsed.error)}`);
  }
  const manifest = parsed.data as SweepManifest;
  const seen = new Set<string>();
  for (const m of manifest.members) {
    if (seen.has(m.id)) throw new Error(`${path}: member id '${m.id}' appears twice`);
    seen.add(m.id);
  }
  return manifest;
}

/** Reads one member's `status.json`; never throws. */
export async function readMemberStatus(dir: string, member: SweepMember): Promise<MemberResult> {
  const path = join(dir, "members", member.id, "status.json");
  try {
    const read = await readJson(path);
    if (!read) return { member, state: "not run" };
    const parsed = statusSchema.safeParse(read.value, { reportInput: true });
    if (!parsed.success) {
      return { member, state: "unreadable", error: `${path}: ${describe(parsed.error)}` };
    }
    const status = parsed.data as MemberStatus;
    const error = status.state === "failed" ? status.error ?? "(no error message)" : undefined;
    return error === undefined ? { member, state: status.state, status } : {
      member,
      state: status.state,
      status,
      error,
    };
  } catch (e) {
    return { member, state: "unreadable", error: (e as Error).message };
  }
}

/** Groups members by variant, variants in order of first appearance. */
export function groupByVariant(members: MemberResult[]): VariantGroup[] {
  const groups = new Map<string, VariantGroup>();
  for (const result of members) {
    const m = result.member;
    let group = groups.get(m.variant);
    if (!group) {
      group = { variant: m.variant, recipe: m.recipe, toggle: m.toggle, grid: m.grid, members: [] };
      groups.set(m.variant, group);
    }
    group.members.push(result);
  }
  return [...groups.values()];
}

/**
 * Reads a sweep directory: the manifest and every member's status.
 *
 * @param dir The sweep directory (holds `sweep.json` and `members/`).
 * @throws when `sweep.json` is missing or corrupt (members' problems become states).
 */
export async function collectSweep(dir: string): Promise<SweepResults> {
  const manifest = await readManifest(dir);
  const members = await Promise.all(manifest.members.map((m) => readMemberStatus(dir, m)));
  const warnings = members.filter((r) => r.state === "unreadable")
    .map((r) => `${r.member.id}: status unreadable: ${r.error}`);
  return { dir, manifest, members, variants: groupByVariant(members), warnings };
}

/**
 * The value of metric `key` (`<evaluator>.<metric>`) in a member's evaluation
 * results, or `undefined` when absent or not a finite number. The evaluator
 * name may itself contain dots: every split point is tried, first dot first.
 */
export function metricValue(
  evalResults: Record<string, Record<string, unknown>> | undefined,
  key: string,
): number | undefined {
  if (!evalResults) return undefined;
  for (let i = key.indexOf("."); i > 0; i = key.indexOf(".", i + 1)) {
    const evaluator = key.slice(0, i), metric = key.slice(i + 1);
    if (!Object.hasOwn(evalResults, evaluator)) continue;
    const metrics = evalResults[evaluator];
    const value = metrics && Object.hasOwn(metrics, metric) ? metrics[metric] : undefined;
    if (typeof value === "number" && Number.isFinite(value)) return value;
  }
  return undefined;
}
