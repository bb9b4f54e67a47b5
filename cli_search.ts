/**
 * `deno task search`: text-to-image search over image files with a trained
 * run — each query's nearest images by cosine of their embeddings.
 *
 * ```sh
 * deno task search runs/clip-… photos/ --query "a handwritten seven" --top 5
 * ```
 *
 * @module
 */
import type { Command } from "commander";
import { TrainedModel } from "./core/trained_model.ts";
import { listImageFiles } from "./data/image_files.ts";
import { matMulTransposed } from "./eval/linalg.ts";
import { topClasses } from "./eval/top_classes.ts";
import { collect, loadOptions, modelOptions, modelTitle, positive } from "./cli_model.ts";

/** Adds `search` to the program. */
export function addSearchCommand(program: Command): void {
  modelOptions(
    program.command("search").argument("<run-dir>", "a run directory")
      .argument("<images...>", "image files, or folders of them")
      .description(
        "text-to-image search with a trained run: each --query's nearest images by cosine " +
          "(the recipe's zero-shot or retrieval nodes unless given)",
      )
      .option("--query <text>", "a text query (repeatable)", collect, [])
      .option("--top <k>", "images listed per query", "5")
      .option("--json", "one JSON object per query instead of a table"),
  ).action(async (runDir: string, paths: string[], opts) => {
    const queries = opts.query as string[];
    if (queries.length === 0) {
      throw new Error('search: no --query; e.g. --query "a photo of a dog"');
    }
    const top = positive("--top", opts.top);
    const batch = positive("--batch", opts.batch);
    const files = await listImageFiles(paths);
    const model = await TrainedModel.load(runDir, loadOptions(opts));
    try {
      const texts = await model.embedTexts(queries, { batch });
      const images = await model.embedImages(files, { batch });
      if (texts.cols !== images.cols) {
        throw new Error(
          `search: text embeddings have dimension ${texts.cols} but image embeddings ` +
            `${images.cols}; both nodes must end in the same space`,
        );
      }
      const ranked = topClasses(matMulTransposed(texts, images), { names: files, k: top });
      if (!opts.json) {
        console.log(`${modelTitle(model, model.nodes)}: ${files.length} images, cosine`);
      }
      queries.forEach((query, q) => {
        const hits = ranked[q]!.map((h) => ({ file: h.name, score: h.score }));
        if (opts.json) return console.log(JSON.stringify({ query, top: hits }));
        console.log(JSON.stringify(query));
        for (const h of hits) console.log(`  ${h.score.toFixed(3)}  ${h.file}`);
      });
    } finally {
      model.dispose();
    }
  });
}
