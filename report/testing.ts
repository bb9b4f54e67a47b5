/**
 * Fabricated sweep directories with known numbers, for the report's tests:
 * a `sweep.json` as the sweep runner writes it and `members/<id>/status.json`
 * files in every state (done, failed, running, missing, corrupt).
 *
 * @module
 */
import { join } from "node:path";
import type { MemberStatus, SweepManifest, SweepMember, SweepMetric } from "./collect.ts";

/** A temporary directory removed (with its contents) when disposed: `await using tmp = …`. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "novalab-sweep-report-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A member to fabricate: its place in the sweep and its status file. */
export interface FixtureMember {
  /** Recipe label. */
  recipe: string;
  /** Grid values. */
  grid?: Record<string, unknown>;
  /** Toggle name. */
  toggle?: string;
  /** Seed. */
  seed: number;
  /** Status written (`undefined`: no file; a string: written verbatim, e.g. corrupt JSON). */
  status?: MemberStatus | string;
}

/** Member id by the sweep contract: `<recipe>[+<toggle>][,<k>=<v>...]-s<seed>`. */
export function fixtureId(m: FixtureMember): string {
  const grid = Object.entries(m.grid ?? {}).map(([k, v]) => `,${k.split(".").at(-1)}=${v}`);
  const variant = `${m.recipe}${m.toggle ? `+${m.toggle}` : ""}${grid.join("")}`
    .replace(/[^A-Za-z0-9._=+,-]/g, "_");
  return `${variant}-s${m.seed}`;
}

/** A done status with `top1`, `gap` (and `r1` when given). */
export function done(top1: number, gap: number, extra: Partial<MemberStatus> = {}): MemberStatus {
  return {
    state: "done",
    started: "2026-01-01T00:00:00.000Z",
    finished: "2026-01-01T00:02:00.000Z",
    wall_s: 120,
    steps: 300,
    images_per_s: 500,
    eval: { zero_shot: { top1, top5: 1 }, diagnostics: { gap } },
    ...extra,
  };
}

/**
 * Writes a sweep directory under `dir`: `sweep.json` listing `members` and
 * their status files.
 */
export async function writeFixtureSweep(
  dir: string,
  sweep: { name?: string; factors?: string[]; toggles?: Record<string, string> },
  metrics: SweepMetric[],
  members: FixtureMember[],
): Promise<SweepManifest> {
  const listed: SweepMember[] = members.map((m, index) => {
    const id = fixtureId(m);
    return {
      index,
      id,
      variant: id.replace(/-s\d+$/, ""),
      recipe: m.recipe,
      recipe_file: `recipes/${m.recipe}.yaml`,
      toggle: m.toggle ?? null,
      grid: m.grid ?? {},
      seed: m.seed,
      sets: [...Object.entries(m.grid ?? {}).map(([k, v]) => `${k}=${v}`), `seed=${m.seed}`],
    };
  });
  const manifest: SweepManifest = {
    name: sweep.name ?? "fixture",
    file: `recipes/sweeps/${sweep.name ?? "fixture"}.yaml`,
    factors: sweep.factors ?? [],
    toggles: sweep.toggles ?? {},
    metrics,
    members: listed,
  };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "sweep.json"), JSON.stringify(manifest, null, 2));
  for (const [i, m] of members.entries()) {
    if (m.status === undefined) continue;
    const memberDir = join(dir, "members", listed[i]!.id);
    await Deno.mkdir(memberDir, { recursive: true });
    const text = typeof m.status === "string" ? m.status : JSON.stringify(m.status);
    await Deno.writeTextFile(join(memberDir, "status.json"), text);
  }
  return manifest;
}

/** Metric columns of {@link writeLambdaSweep}. */
export const LAMBDA_METRICS: SweepMetric[] = [
  { label: "zero-shot top-1", key: "zero_shot.top1", better: "higher" },
  { label: "modality gap", key: "diagnostics.gap", better: "lower" },
  { label: "R@1", key: "retrieval.r1", better: "higher" },
];

/**
 * A 2 recipes × λ ∈ {0, 0.1} × 3 seeds sweep in `dir` with hand-computable numbers:
 *
 * - `nova,lambda=0`: top-1 .90/.92/.94 (mean .92, std .02), gap .5/.6/.7, R@1 .5/.5/.5
 * - `nova,lambda=0.1`: top-1 .95/.97, gap .3/.4, R@1 .6/.7; seed 2 failed (its
 *   status carries top-1 0 and gap 100, which must not be averaged)
 * - `clip,lambda=0`: top-1 .80/.84, gap .2/.3 (best gap, lower is better); seed 2 not run
 * - `clip,lambda=0.1`: seed 0 running, seed 1 corrupt status.json, seed 2 top-1 .85, gap .9
 */
export function writeLambdaSweep(dir: string): Promise<SweepManifest> {
  const r1 = (v: number) => ({ retrieval: { r1: v } });
  const m = (recipe: string, lambda: number, seed: number, status?: MemberStatus | string) => ({
    recipe,
    grid: { "vars.lambda": lambda },
    seed,
    status,
  });
  const withR1 = (s: MemberStatus, v: number) => ({ ...s, eval: { ...s.eval, ...r1(v) } });
  return writeFixtureSweep(dir, { name: "nova_lambda", factors: ["vars.lambda"] }, LAMBDA_METRICS, [
    m("nova", 0, 0, withR1(done(0.90, 0.5, { wall_s: 60 }), 0.5)),
    m("nova", 0, 1, withR1(done(0.92, 0.6, { wall_s: 120 }), 0.5)),
    m("nova", 0, 2, withR1(done(0.94, 0.7, { wall_s: 180 }), 0.5)),
    m("nova", 0.1, 0, withR1(done(0.95, 0.3), 0.6)),
    m("nova", 0.1, 1, withR1(done(0.97, 0.4), 0.7)),
    m("nova", 0.1, 2, {
      ...done(0, 100),
      state: "failed",
      error: 'NaN loss at step 7, "sigreg"\nstack…',
    }),
    m("clip", 0, 0, done(0.80, 0.2, { images_per_s: 400 })),
    m("clip", 0, 1, done(0.84, 0.3, { images_per_s: 600 })),
    m("clip", 0, 2),
    m("clip", 0.1, 0, { state: "running", started: "2026-01-01T00:00:00.000Z" }),
    m("clip", 0.1, 1, "{ not json"),
    m("clip", 0.1, 2, done(0.85, 0.9)),
  ]);
}
