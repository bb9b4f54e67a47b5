/**
 * Running a sweep: validate every member, write `sweep.json`, then run the
 * members of this shard one after another in this process, each into
 * `<sweep>/members/<id>/`. Finished members are skipped, members killed
 * mid-training resume from their latest checkpoint, a member that throws is
 * marked failed and the sweep goes on. See `docs/sweeps.md`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendChoice } from "../core/backend.ts";
import { latestCheckpoint } from "../core/checkpoint_load.ts";
import type { LatestCheckpoint } from "../core/checkpoint.ts";
import { type RunnableRecipe, runRecipe } from "../core/run.ts";
import { runPaths } from "../core/rundir.ts";
import { type Shard, shardMembers } from "./expand.ts";
import { formatMemberLine } from "./format.ts";
import { type SweepManifest, sweepManifest, writeManifest } from "./manifest.ts";
import { type PreparedSweep, prepareSweep } from "./prepare.ts";
import { defaultSweepDir, memberDir, readStatus, writeStatus } from "./status.ts";
import type { MemberStatus, SweepMember } from "./types.ts";

/** Options of {@link runSweep}. */
export interface SweepOptions {
  /** Sweep directory (default `runs/sweeps/<name>`). */
  out?: string;
  /** Run only this slice of the members (see `parseShard`). */
  shard?: Shard;
  /** Rerun members marked failed (from scratch) instead of skipping them. */
  retryFailed?: boolean;
  /** Overrides every member recipe's backend. */
  backend?: BackendChoice;
  /** No progress bars (the one line per member is still printed). */
  quiet?: boolean;
  /** Cache directory (default `$NOVALAB_CACHE` or `.cache/novalab`). */
  cacheDir?: string;
  /**
   * Stops the sweep once aborted: a member in training checkpoints after its
   * current step and stays unfinished (`running`); no further member starts.
   */
  signal?: AbortSignal;
  /** Receives each output line (default `console.log`). */
  log?: (line: string) => void;
  /** Called when a member starts (after its status says `running`). */
  onMemberStart?: (member: SweepMember) => void;
}

/** What happened to one member in this invocation. */
export interface MemberOutcome {
  /** The member. */
  member: SweepMember;
  /** `skipped`: finished (or failed) earlier; `ran`: from scratch; `resumed`: from a checkpoint. */
  action: "ran" | "resumed" | "skipped";
  /** Its status afterwards. */
  status: MemberStatus;
  /** `tf.memory().numTensors` after the member (a leak shows as growth across members). */
  tensors: number;
}

/** What {@link runSweep} did. */
export interface SweepResult {
  /** The sweep directory. */
  dir: string;
  /** What was written to `sweep.json`. */
  manifest: SweepManifest;
  /** One outcome per member of the shard that was reached, in order. */
  outcomes: MemberOutcome[];
  /** Ids of members of the shard that are marked failed. */
  failed: string[];
  /** Whether the sweep stopped early (signal or Ctrl-C); rerun it to continue. */
  interrupted: boolean;
}

/**
 * Live tensors, or 0 before any member ran: `tf.memory()` with no backend
 * initialised would start tfjs's highest-priority backend (webgpu) itself and
 * fail, which is what a sweep whose members are all finished used to do.
 */
function liveTensors(): number {
  return tf.getBackend() ? tf.memory().numTensors : 0;
}

async function sameRecipe(dir: string, recipe: RunnableRecipe): Promise<boolean> {
  const body = (yaml: string) => yaml.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  try {
    return body(await Deno.readTextFile(runPaths(dir).recipe)) === body(recipe.yaml);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

/** Refuses to mix recipes: members already run with another resolution of the sweep file. */
async function checkStale(
  prepared: PreparedSweep,
  dir: string,
  members: SweepMember[],
  retryFailed: boolean,
): Promise<void> {
  const stale: string[] = [];
  for (const m of members) {
    const status = await readStatus(memberDir(dir, m.id));
    if (!status || (status.state === "failed" && retryFailed)) continue;
    if (!await sameRecipe(memberDir(dir, m.id), prepared.recipes.get(m.id)!)) stale.push(m.id);
  }
  if (stale.length === 0) return;
  throw new Error(
    `${dir}: ${stale.length} member(s) ran with a different recipe than ${prepared.spec.file} ` +
      `resolves to now (the sweep file or a recipe changed): ${stale.join(", ")}. ` +
      `Expected unchanged recipes when continuing a sweep: run into a new --out directory, ` +
      `or delete members/<id>/ of those members to rerun them.`,
  );
}

async function runMember(
  member: SweepMember,
  recipe: RunnableRecipe,
  dir: string,
  options: SweepOptions,
): Promise<{ status: MemberStatus; action: "ran" | "resumed"; finished: boolean }> {
  const previous = await readStatus(dir);
  let checkpoint: LatestCheckpoint | undefined;
  try {
    checkpoint = previous?.state === "running"
      ? await latestCheckpoint(runPaths(dir).checkpoints)
      : undefined;
  } catch (e) {
    // An unreadable latest.json fails this member (kept for inspection), not the sweep.
    const now = new Date().toISOString();
    const error = `${e instanceof Error ? e.message : String(e)} (repair or remove it and ` +
      "rerun to resume the member, or rerun with --retry-failed to train it afresh)";
    const status: MemberStatus = { state: "failed", started: now, finished: now, wall_s: 0, error };
    await writeStatus(dir, status);
    return { status, action: "resumed", finished: true };
  }
  if (!checkpoint) await Deno.remove(dir, { recursive: true }).catch(() => {});
  const started = new Date();
  const resumed = checkpoint ? { resumed_from: checkpoint.step } : {};
  await writeStatus(dir, { state: "running", started: started.toISOString(), ...resumed });
  options.onMemberStart?.(member);
  const action = checkpoint ? "resumed" : "ran";
  const timing = () => ({
    finished: new Date().toISOString(),
    wall_s: Math.round((Date.now() - started.getTime()) / 100) / 10,
  });
  let status: MemberStatus;
  try {
    const result = await runRecipe(recipe, {
      ...(checkpoint ? { resume: dir } : { runDir: dir }),
      backend: options.backend,
      quiet: options.quiet,
      cacheDir: options.cacheDir,
      signal: options.signal,
    });
    const measured = { steps: result.steps, images_per_s: Math.round(result.imagesPerSecond) };
    if (!result.finished) {
      status = { state: "running", started: started.toISOString(), ...resumed, ...measured };
      await writeStatus(dir, status);
      return { status, action, finished: false };
    }
    status = {
      state: "done",
      started: started.toISOString(),
      ...timing(),
      ...resumed,
      ...measured,
      eval: result.eval,
    };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    status = { state: "failed", started: started.toISOString(), ...timing(), ...resumed, error };
  }
  await writeStatus(dir, status);
  return { status, action, finished: true };
}

/**
 * Warns once when the live tensors after a member exceed those after the
 * first member run: a member that leaks memory makes every later one grow.
 */
function leakWatch(log: (line: string) => void): (memberId: string, tensors: number) => void {
  let afterFirst: number | undefined, reported = false;
  return (memberId, tensors) => {
    if (afterFirst !== undefined && tensors > afterFirst && !reported) {
      reported = true;
      log(
        `warning: ${tensors - afterFirst} tensors more than after the first member ran ` +
          `(after ${memberId}): a member leaks memory, which grows with every member`,
      );
    }
    afterFirst ??= tensors;
  };
}

/** The sweep's closing line: members done, failed and not finished. */
function summaryLine(
  name: string,
  shardText: string,
  outcomes: MemberOutcome[],
  members: number,
): string {
  const count = (state: string) => outcomes.filter((o) => o.status.state === state).length;
  const left = members - outcomes.length + count("running");
  return `sweep ${name}${shardText}: ${count("done")} done, ${count("failed")} failed` +
    (left > 0 ? `, ${left} not finished (rerun the same command to continue)` : "");
}

/**
 * Runs the sweep in `file`: validates every member (a problem fails here,
 * before any compute), writes `sweep.json`, then runs this shard's members
 * that are not finished, printing one line per member. Never throws for a
 * failing member: it is marked failed and the sweep goes on.
 */
export async function runSweep(file: string, options: SweepOptions = {}): Promise<SweepResult> {
  const log = options.log ?? console.log;
  const prepared = await prepareSweep(file);
  const dir = options.out ?? defaultSweepDir(prepared.spec.name);
  const mine = shardMembers(prepared.members, options.shard);
  await checkStale(prepared, dir, mine, options.retryFailed ?? false);
  const manifest = sweepManifest(prepared.spec, prepared.members);
  await writeManifest(dir, manifest);
  const shardText = options.shard ? ` (shard ${options.shard.index}/${options.shard.count})` : "";
  log(
    `sweep ${prepared.spec.name}: ${mine.length} of ${prepared.members.length} members` +
      `${shardText} → ${dir}`,
  );
  const outcomes: MemberOutcome[] = [];
  const watchLeaks = leakWatch(log);
  let interrupted = false;
  for (const member of mine) {
    const runDir = memberDir(dir, member.id);
    const before = await readStatus(runDir);
    if (before?.state === "done" || (before?.state === "failed" && !options.retryFailed)) {
      outcomes.push({ member, action: "skipped", status: before, tensors: liveTensors() });
      log(formatMemberLine(member, prepared, before, "skipped"));
      continue;
    }
    if (options.signal?.aborted) {
      interrupted = true;
      break;
    }
    const recipe = prepared.recipes.get(member.id)!;
    const { status, action, finished } = await runMember(member, recipe, runDir, options);
    const tensors = liveTensors();
    outcomes.push({ member, action, status, tensors });
    log(formatMemberLine(member, prepared, status, action));
    watchLeaks(member.id, tensors);
    if (!finished) {
      interrupted = true;
      break;
    }
  }
  const failed = outcomes.filter((o) => o.status.state === "failed").map((o) => o.member.id);
  log(summaryLine(prepared.spec.name, shardText, outcomes, mine.length));
  return { dir, manifest, outcomes, failed, interrupted };
}
