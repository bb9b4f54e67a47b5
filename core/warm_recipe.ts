/**
 * `deno task cache <recipe>`: decodes every image a recipe will read into the
 * decoded-image caches — the training source's splits, then each evaluator's
 * own source (`eval[i].data` with `cache` on) for the splits its evaluators
 * read — so training and evaluation read them back from the first pass.
 *
 * @module
 */
import { sources } from "./components.ts";
import { EvalSources } from "./eval_sources.ts";
import { defaultCacheDir } from "./env.ts";
import type { RunnableRecipe } from "./run.ts";
import { cacheStatsOf } from "../data/decoded_cache_use.ts";
import { warmDecodedCache, type WarmOptions, type WarmSplit } from "../data/warm_cache.ts";
import type { DecodedCacheStats } from "../data/decoded_cache.ts";
import type { DataSource } from "./types.ts";

/** What one source's warming did. */
export interface WarmedSource {
  /** `data` or `eval[i].data` (the first evaluator reading it). */
  entry: string;
  /** Per split counts and times. */
  splits: WarmSplit[];
  /** The cache's counters afterwards. */
  stats: DecodedCacheStats;
}

/** Evaluator parameters that name the splits they read. */
const SPLIT_KEYS = ["split", "train", "val"];

/** The splits of `source` the evaluators `indices` read (default `test` where unset). */
function evalSplits(recipe: RunnableRecipe, indices: number[], source: DataSource): string[] {
  const named = indices.flatMap((i) => {
    const params = recipe.eval[i]!.params as Record<string, unknown>;
    const given = SPLIT_KEYS.map((k) => params[k]).filter((s): s is string =>
      typeof s === "string"
    );
    return given.length ? given : ["test"];
  });
  return [...new Set(named)].filter((s) => s in source.splits);
}

/**
 * Warms the training source (`splits`, default all; skipped when only evaluator
 * sources have a cache, an error when nothing has one) and every evaluator
 * source with a cache.
 *
 * @param recipe The recipe.
 * @param options Training splits and a progress callback (`entry` names the source).
 */
export async function warmRecipeCaches(
  recipe: RunnableRecipe,
  options: {
    splits?: string[];
    onProgress?: (entry: string, split: string, done: number, total: number) => void;
  } = {},
): Promise<WarmedSource[]> {
  const cacheDir = defaultCacheDir();
  const source = await sources.get(recipe.data.kind).create(recipe.data.params, {
    seed: recipe.seed,
    cacheDir,
  });
  let evalSources: EvalSources | undefined;
  try {
    const progress = (entry: string): WarmOptions["onProgress"] =>
      options.onProgress &&
      ((split, done, total) => options.onProgress!(entry, split, done, total));
    // Evaluator sources first (opening one reads its label CSVs, not its images): a wrong path
    // stops the command before hours of decoding. Only those with a cache to fill are opened.
    const cached = (spec: RunnableRecipe["eval"][number]) =>
      Boolean((spec.data?.params as { cache?: unknown } | undefined)?.cache);
    evalSources = await EvalSources.build(recipe, { source, cacheDir, only: cached });
    const out: WarmedSource[] = [];
    const evalWithCache = recipe.eval.some((spec, i) =>
      cached(spec) && cacheStatsOf(evalSources!.of(i))
    );
    // Without any cache the training source's warming says what to switch on.
    if (cacheStatsOf(source) || !evalWithCache) {
      const first = await warmDecodedCache(source, {
        ...(options.splits && { splits: options.splits }),
        onProgress: progress("data"),
      });
      out.push({ entry: "data", ...first });
    }
    const seen = new Set<DataSource>([source]);
    for (const [i, spec] of recipe.eval.entries()) {
      if (!cached(spec)) continue;
      const own = evalSources.of(i);
      if (seen.has(own) || !cacheStatsOf(own)) continue;
      seen.add(own);
      const readers = recipe.eval.map((_, j) => j)
        .filter((j) => cached(recipe.eval[j]!) && evalSources!.of(j) === own);
      const entry = `eval[${i}].data`;
      const warmed = await warmDecodedCache(own, {
        splits: evalSplits(recipe, readers, own),
        onProgress: progress(entry),
      });
      out.push({ entry, ...warmed });
    }
    return out;
  } finally {
    evalSources?.dispose();
    source.dispose();
  }
}
