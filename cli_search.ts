/**
 * `deno task search`: search over image files with a trained run — each text
 * query's (`--query`) or image query's (`--like`) nearest images by cosine of
 * their embeddings.
 *
 * ```sh
 * deno task search runs/clip-… photos/ --query "a handwritten seven" --top 5
 * deno task search runs/clip-… photos/ --like query.png       # images like this one
 * ```
 *
 * @module
 */
import type { Command } from "commander";
import { TrainedModel } from "./core/trained_model.ts";
import { listImageFiles } from "./data/image_files.ts";
import { stackRows } from "./eval/features.ts";
import { matMulTransposed } from "./eval/linalg.ts";
import { topClasses } from "./eval/top_classes.ts";
import { collect, loadOptions, modelOptions, modelTitle, positive } from "./cli_model.ts";

/** Adds `search` to the program. */
export function addSearchCommand(program: Command): void {
  modelOptions(
    program.command("search").argument("<run-dir>", "a run directory")
      .argument("<images...>", "image files, or folders of them")
      .description(
        "search image files with a trained run: each --query's (text) or --like's (image) " +
          "nearest images by cosine (the recipe's zero-shot or retrieval nodes unless given)",
      )
      .option("--query <text>", "a text query (repeatable)", collect, [])
      .option("--like <image>", "an image query: images like this file (repeatable)", collect, [])
      .option("--top <k>", "images listed per query", "5")
      .option("--json", "one JSON object per query instead of a table"),
  ).action(async (runDir: string, paths: string[], opts) => {
    const texts = opts.query as string[], likes = opts.like as string[];
    if (texts.length + likes.length === 0) {
      throw new Error('search: no query; give --query "a photo of a dog" or --like image.png');
    }
    const top = positive("--top", opts.top);
    const batch = positive("--batch", opts.batch);
    const files = await listImageFiles(paths);
    const model = await TrainedModel.load(runDir, loadOptions(opts));
    try {
      const images = await model.embedImages(files, { batch });
      const asked = stackRows([
        ...(texts.length > 0 ? [await model.embedTexts(texts, { batch })] : []),
        ...(likes.length > 0 ? [await model.embedImages(likes, { batch })] : []),
      ]);
      if (asked.cols !== images.cols) {
        throw new Error(
          `search: text embeddings have dimension ${asked.cols} but image embeddings ` +
            `${images.cols}; both nodes must end in the same space`,
        );
      }
      const ranked = topClasses(matMulTransposed(asked, images), { names: files, k: top });
      if (!opts.json) {
        console.log(`${modelTitle(model, model.nodes)}: ${files.length} images, cosine`);
      }
      const queries = [...texts.map((query) => ({ query })), ...likes.map((like) => ({ like }))];
      queries.forEach((query, q) => {
        const hits = ranked[q]!.map((h) => ({ file: h.name, score: h.score }));
        if (opts.json) return console.log(JSON.stringify({ ...query, top: hits }));
        console.log("query" in query ? JSON.stringify(query.query) : `like ${query.like}`);
        for (const h of hits) console.log(`  ${h.score.toFixed(3)}  ${h.file}`);
      });
    } finally {
      model.dispose();
    }
  });
}
