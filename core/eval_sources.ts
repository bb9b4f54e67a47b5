/**
 * The data each evaluator reads: the recipe's `data:` source, or the
 * evaluator's own `eval[i].data` (transfer evaluation — train on MIMIC-CXR,
 * score CheXpert and ChestX-ray14 zero-shot). Built before training, so a
 * wrong path, split or image shape stops the run before any compute rather
 * than after it: a source whose images differ in shape from the training
 * data's is tried on the evaluator's image nodes with one image first.
 *
 * @module
 */
import { evaluators, sources } from "./components.ts";
import type { CompiledGraph } from "./graph_run.ts";
import type { DataSource } from "./types.ts";
import type { RunnableRecipe } from "./run.ts";
import { atDataEntry } from "./run_notices.ts";
import { objectKeysAt } from "./recipe/zod_issues.ts";
import { formatLocation } from "./recipe/errors.ts";

type EvalSpec = RunnableRecipe["eval"][number];

/** Identity of a data entry: its kind and its validated parameters. */
function dataKey(data: { kind: string; params: unknown }): string {
  return JSON.stringify([data.kind, data.params]);
}

/** Where the recipe wrote `key` (`file:line:column: `, `--set …: `), or "" when unknown. */
function whereIs(recipe: RunnableRecipe, key: string): string {
  const at = recipe.graph.locate?.(key);
  return at?.file ? `${formatLocation(at)}: ` : "";
}

/** Every evaluator's data source; the training source is shared, not owned. */
export class EvalSources {
  private constructor(
    /** The recipe's `data:` source (shared with training; not disposed here). */
    readonly training: DataSource,
    private readonly byIndex: (DataSource | undefined)[],
    private readonly owned: DataSource[],
  ) {}

  /**
   * Builds the sources of the recipe's `eval[i].data` entries (one per
   * distinct entry; one equal to `data:` is the training source) and checks
   * their images against the graph (see the module notes).
   *
   * @param recipe The recipe.
   * @param options The training source, the graph built on it, the cache directory, and
   *   which evaluators will run (default all; the others' sources are not built).
   * @throws The first source that cannot be built (prefixed with where its entry is), or
   *   images the graph cannot take.
   */
  static async build(
    recipe: RunnableRecipe,
    options: {
      source: DataSource;
      graph?: CompiledGraph;
      cacheDir: string;
      only?: (spec: EvalSpec) => boolean;
    },
  ): Promise<EvalSources> {
    const { source, only = () => true } = options;
    const built = new Map<string, DataSource>([[dataKey(recipe.data), source]]);
    const owned: DataSource[] = [];
    const byIndex: (DataSource | undefined)[] = [];
    try {
      for (const [i, spec] of recipe.eval.entries()) {
        if (!only(spec)) {
          byIndex.push(undefined);
        } else if (!spec.data) {
          byIndex.push(source);
        } else {
          byIndex.push(await buildOne(recipe, { index: i, built, owned, ...options }));
        }
      }
    } catch (e) {
      for (const s of owned) s.dispose();
      throw e;
    }
    return new EvalSources(source, byIndex, owned);
  }
  /** The source `eval[index]` reads. */
  of(index: number): DataSource {
    const source = this.byIndex[index];
    if (!source) {
      throw new RangeError(`eval[${index}]: no such evaluator, or its data was not built`);
    }
    return source;
  }

  /** Releases the evaluators' own sources (the training source stays). */
  dispose(): void {
    for (const s of this.owned) s.dispose();
    this.owned.length = 0;
  }
}

/** Builds (or reuses) the source of `eval[index].data` and checks its images. */
async function buildOne(
  recipe: RunnableRecipe,
  at: {
    index: number;
    built: Map<string, DataSource>;
    owned: DataSource[];
    source: DataSource;
    graph?: CompiledGraph;
    cacheDir: string;
  },
): Promise<DataSource> {
  const { index, built, owned } = at;
  const data = recipe.eval[index]!.data!;
  const key = dataKey(data);
  let evalSource = built.get(key);
  if (evalSource === undefined) {
    const created: DataSource = await sources.get(data.kind).create(data.params, {
      seed: recipe.seed,
      cacheDir: at.cacheDir,
    }).catch((e: unknown) =>
      Promise.reject(atDataEntry(e, recipe, { key: `eval[${index}].data`, kind: data.kind }))
    );
    built.set(key, created);
    owned.push(created);
    evalSource = created;
  }
  await checkImages(recipe, { index, evalSource, source: at.source, graph: at.graph });
  return evalSource;
}

/** The split an evaluator reads first: its `split` (or `train`) parameter, else the first one. */
function probeSplit(spec: EvalSpec, source: DataSource): string | undefined {
  const params = spec.params as Record<string, unknown>;
  const named = [params.split, params.train].find((s) =>
    typeof s === "string" && (source.splits[s]?.size ?? 0) > 0
  );
  return (named as string | undefined) ??
    Object.entries(source.splits).find(([, info]) => info.size > 0)?.[0];
}

/**
 * Runs each image node `eval[index]` names on one image of its source when the
 * source's images differ in shape from the training data's; throws an error
 * naming both shapes and the node when the graph cannot take them.
 */
async function checkImages(
  recipe: RunnableRecipe,
  at: { index: number; evalSource: DataSource; source: DataSource; graph?: CompiledGraph },
): Promise<void> {
  const { index, evalSource, source, graph } = at;
  const spec = recipe.eval[index]!;
  const [h, w, c] = evalSource.imageShape, [th, tw, tc] = source.imageShape;
  if (!graph || (h === th && w === tw && c === tc)) return;
  const refs = evaluators.get(spec.kind).nodeRefs ?? {};
  const params = spec.params as Record<string, unknown>;
  const nodes = Object.entries(refs).filter(([, side]) => side === "image")
    .map(([param]) => params[param]).filter((n): n is string => typeof n === "string");
  const split = probeSplit(spec, evalSource);
  if (nodes.length === 0 || split === undefined) return;
  const batch = await evalSource.batch(split, 0, {
    batchSize: 1,
    seed: recipe.seed,
    shuffle: false,
    dropLast: false,
    hostPixels: true,
  });
  let model: ReturnType<CompiledGraph["inference"]> | undefined;
  try {
    model = graph.inference({ seed: recipe.seed, replay: false });
    for (const node of [...new Set(nodes)]) {
      try {
        (await model.run(node, { image: batch.image })).dispose();
      } catch (e) {
        const keys = objectKeysAt(sources.get(spec.data!.kind).schema, []) ?? [];
        const fix = keys.includes("size") && keys.includes("channels")
          ? `set size: ${th === tw ? th : `[${th}, ${tw}]`}, channels: ${tc} in eval[${index}].data`
          : `${spec.data!.kind} does not resize; a views node with size: ${th} in front of ` +
            `the encoder resizes every image at inference (or train on data of that shape)`;
        throw new Error(
          `${whereIs(recipe, `eval[${index}].data`)}eval[${index}].data (${evalSource.name}): ` +
            `its images are ${h}×${w}×${c} but the graph was built on data:'s ` +
            `${th}×${tw}×${tc}, and node "${node}" cannot take them ` +
            `(${e instanceof Error ? e.message.split("\n")[0] : e})\n  fix: ${fix}`,
        );
      }
    }
  } finally {
    model?.dispose?.();
    batch.image.dispose();
  }
}
