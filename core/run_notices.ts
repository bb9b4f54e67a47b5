/**
 * What a run tells the user on stderr before and after training — loss terms
 * skipped for a weight of 0, a warm-up cut to fit the steps, how to evaluate
 * a run whose evaluation was interrupted — where in the recipe a data
 * source's error comes from, and the `failure.json` a run that stopped on an
 * error leaves in its directory.
 *
 * @module
 */
import { writeJsonAtomic } from "./atomic.ts";
import type { RunnableRecipe } from "./run.ts";
import type { Trainer } from "./trainer.ts";
import { formatLocation } from "./recipe/errors.ts";

/** Loss terms of weight 0 the trainer skips, and the nodes only they read. */
export function skippedText(trainer: Trainer): string {
  const { terms, nodes } = trainer.skipped;
  const list = (names: string[]) => names.map((n) => `"${n}"`).join(", ");
  const exclusive = nodes.length > 0
    ? `; nodes ${list(nodes)} feed only ${terms.length > 1 ? "them" : "it"} and do not run`
    : "";
  return `loss ${terms.length > 1 ? "terms" : "term"} ${list(terms)} ` +
    `${terms.length > 1 ? "have" : "has"} weight 0: skipped${exclusive}`;
}

/** A warm-up as long as the run or longer (the schedule cuts it to `steps − 1`), or `undefined`. */
export function warmupText(train: RunnableRecipe["train"]): string | undefined {
  const { schedule, steps } = train;
  if (schedule.warmup < steps || steps <= 1) return undefined;
  return `train.schedule.warmup ${schedule.warmup} ≥ train.steps ${steps}: the warm-up is cut to ` +
    `${steps - 1} steps, so the learning rate peaks at the last step` +
    `${schedule.kind === "warmup_cosine" ? " and never decays" : ""}; set it below the ` +
    `steps (e.g. --set train.schedule.warmup=${Math.max(1, Math.floor(steps / 10))})`;
}

/** The lines a run prints before training (none when all is as written). */
export function runNotices(recipe: RunnableRecipe, trainer: Trainer): string[] {
  const lines: string[] = [];
  if (trainer.skipped.terms.length > 0) lines.push(skippedText(trainer));
  const warmup = warmupText(recipe.train);
  if (warmup) lines.push(warmup);
  return lines;
}

/** Printed when evaluation starts: an interrupt loses no training. */
export function evaluatingNotice(runDir: string): string {
  return `training done; evaluating (if interrupted, the checkpoint is saved: ` +
    `deno task eval ${runDir})`;
}

/**
 * A data source's construction error with its message prefixed by where the
 * recipe wrote `data:` or `entry.key` (e.g. `eval[1].data`; the map, which
 * may be in an extended file or changed by `--set data.…`) and its kind; the
 * source's own message names the file, column or value at fault. The error
 * keeps its class.
 */
export function atDataEntry(
  e: unknown,
  recipe: RunnableRecipe,
  entry: { key: string; kind: string } = { key: "data", kind: recipe.data.kind },
): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  const at = recipe.graph.locate?.(entry.key);
  const where = at?.file ? `${formatLocation(at)}: ` : "";
  // The same error, its message prefixed: callers may test its class (IdxError, RangeError…).
  e.message = `${where}${entry.key} (${entry.kind}): ${e.message}`;
  return e;
}

/**
 * Writes `failure.json` (`{ error, time }`) for a run that stopped on an
 * error, unless training already wrote one (a non-finite step), then throws
 * `e` again: a run directory says whether its run failed.
 *
 * @param path The run's `failure.json`.
 * @param e What stopped it.
 */
export async function markFailed(path: string, e: unknown): Promise<never> {
  const written = await Deno.stat(path).then(() => true, () => false);
  if (!written) {
    const error = e instanceof Error ? e.message : String(e);
    await writeJsonAtomic(path, { error, time: new Date().toISOString() }).catch(() => {});
  }
  throw e;
}
