/**
 * The command line's use of a trained run: `predict` (zero-shot classes or
 * findings of image files) and `embed` (image and text embeddings to a
 * `.safetensors` file), both on `TrainedModel` (`core/trained_model.ts`).
 *
 * ```sh
 * deno task predict runs/clip-… digits/ --top 3            # the training data's classes
 * deno task predict runs/clip-… a.png --classes cat,dog --template "a photo of a {}."
 * deno task predict runs/nova_mimic-… xrays/ --findings "Edema,Pleural Effusion"
 * deno task embed runs/clip-… --images photos/ --texts captions.txt --out emb.safetensors
 * ```
 *
 * @module
 */
import type { Command } from "commander";
import { writeFileAtomic } from "./core/atomic.ts";
import { encodeSafetensors, type TensorData } from "./core/safetensors.ts";
import { TrainedModel } from "./core/trained_model.ts";
import { IMAGE_EXTENSIONS, listImageFiles } from "./data/image_files.ts";
import type { Matrix } from "./eval/linalg.ts";
import { checkTemplates } from "./eval/prompt_scores.ts";
import { collect, loadOptions, modelOptions, modelTitle, positive } from "./cli_model.ts";

/** `--classes a,b,c` (or `--findings`) as names (trimmed, none empty). */
function parseNames(flag: string, value: unknown): string[] {
  const names = String(value).split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) {
    throw new Error(`${flag} "${value}" has an empty name; expected e.g. ${flag} cat,dog`);
  }
  return names;
}

/** A matrix as safetensors' F32 tensor. */
function f32(m: Matrix): TensorData {
  return { shape: [m.rows, m.cols], data: Float32Array.from(m.data) };
}

/** The texts of `--texts <file>` (one per line, blank lines skipped) and `--text`. */
async function readTexts(file: string | undefined, inline: string[]): Promise<string[]> {
  if (file === undefined) return inline;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`--texts ${file}: no such file`);
    throw e;
  }
  return [...text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== ""), ...inline];
}

/** What `predict` was asked, its flags checked before the run is loaded. */
interface PredictRequest {
  /** `classes` or `findings`; undefined: decided by the recipe's evaluators. */
  mode?: "classes" | "findings";
  classes?: string[];
  templates: string[];
  findings?: string[];
  positive: string[];
  negative: string[];
  scale?: number;
  top?: number;
  batch: number;
  json: boolean;
}

/** Checks `predict`'s flags: the mode they imply, names, templates, numbers. */
function predictRequest(opts: Record<string, unknown>): PredictRequest {
  const list = (flag: string) => opts[flag] as string[];
  const forFindings = ["--findings", "--positive", "--negative", "--scale"].filter((f) =>
    f === "--positive" || f === "--negative"
      ? list(f.slice(2)).length > 0
      : opts[f.slice(2)] !== undefined
  );
  const forClasses = ["--classes", "--template"].filter((f) =>
    f === "--template" ? list("template").length > 0 : opts.classes !== undefined
  );
  const mode = opts.mode as PredictRequest["mode"] ??
    (forFindings.length > 0 ? "findings" : forClasses.length > 0 ? "classes" : undefined);
  const wrong = mode === "findings" ? forClasses : mode === "classes" ? forFindings : [];
  if (wrong.length > 0) {
    throw new Error(
      `predict: ${wrong.join(", ")} ${wrong.length === 1 ? "applies" : "apply"} to ` +
        `${mode === "findings" ? "classes" : "findings"}, but this prediction scores ${mode}` +
        `${opts.mode ? " (--mode)" : ""}; give the flags of one mode`,
    );
  }
  const file = [opts.classes, opts.findings].find((v) =>
    typeof v === "string" && IMAGE_EXTENSIONS.some((ext) => v.toLowerCase().endsWith(ext))
  );
  if (file !== undefined) {
    throw new Error(
      `predict: "${file}" follows --${opts.classes === file ? "classes" : "findings"}, which ` +
        `takes comma-separated names; put the image paths before the flags or after "--"`,
    );
  }
  const scale = opts.scale === undefined ? undefined : Number(opts.scale);
  if (scale !== undefined && !(Number.isFinite(scale) && scale > 0)) {
    throw new Error(`--scale is ${JSON.stringify(opts.scale)}; expected a finite number > 0`);
  }
  for (const flag of ["template", "positive", "negative"]) {
    if (list(flag).length > 0) checkTemplates(list(flag), `--${flag}`);
  }
  const classes = opts.classes === undefined ? undefined : parseNames("--classes", opts.classes);
  if (classes && classes.length < 2) {
    throw new Error(`--classes "${opts.classes}" names 1 class; name at least 2 (--classes a,b)`);
  }
  return {
    ...(mode && { mode }),
    ...(classes && { classes }),
    ...(opts.findings !== undefined && { findings: parseNames("--findings", opts.findings) }),
    templates: list("template"),
    positive: list("positive"),
    negative: list("negative"),
    ...(scale !== undefined && { scale }),
    ...(opts.top !== undefined && { top: positive("--top", opts.top) }),
    batch: positive("--batch", opts.batch),
    json: opts.json === true,
  };
}

/** The mode a recipe implies: findings when it evaluates findings and not classes. */
function recipeMode(model: TrainedModel): "classes" | "findings" {
  const kinds = model.recipe.eval.map((e) => e.kind);
  return kinds.includes("zero_shot_binary") && !kinds.includes("zero_shot")
    ? "findings"
    : "classes";
}

/** A prediction's lines: a header, then one line (or JSON object) per file. */
function predictionLines(
  files: string[],
  at: { header: string; json: boolean; rows: { name: string; score: number }[][] },
): string[] {
  if (at.json) return files.map((file, i) => JSON.stringify({ file, top: at.rows[i] }));
  const width = Math.max(...files.map((f) => f.length));
  const line = (file: string, i: number) =>
    `${file.padEnd(width)}  ${
      at.rows[i]!.map((c) => `${c.name} ${c.score.toFixed(3)}`).join("  ")
    }`;
  return [at.header, ...files.map(line)];
}

/** `predict` over classes: each file's best classes. */
async function predictClasses(
  model: TrainedModel,
  files: string[],
  request: PredictRequest,
): Promise<string[]> {
  const templates = request.templates.length > 0 ? request.templates : model.templates;
  const result = await model.classify(files, {
    ...(request.classes && { classes: request.classes }),
    templates,
    top: request.top ?? 3,
    batch: request.batch,
  });
  return predictionLines(files, {
    json: request.json,
    rows: result.top,
    header: `${modelTitle(model, model.nodes)}: ${result.classes.length} classes × ` +
      `${templates.length} templates, cosine`,
  });
}

/** `predict` over findings: each one's probability, most probable first. */
async function predictFindings(
  model: TrainedModel,
  files: string[],
  request: PredictRequest,
): Promise<string[]> {
  const result = await model.findings(files, {
    ...(request.findings && { findings: request.findings }),
    ...(request.positive.length > 0 && { positive: request.positive }),
    ...(request.negative.length > 0 && { negative: request.negative }),
    ...(request.scale !== undefined && { scale: request.scale }),
    batch: request.batch,
  });
  const f = result.findings.length;
  const rows = files.map((_, i) => {
    const p = result.probability.data.subarray(i * f, (i + 1) * f);
    return [...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b).slice(0, request.top ?? f)
      .map((j) => ({ index: j, name: result.findings[j]!, score: p[j]! }));
  });
  return predictionLines(files, {
    json: request.json,
    rows,
    header: `${modelTitle(model, model.findingNodes)}: ${f} findings, probability of the ` +
      `positive prompt`,
  });
}

/** Adds `predict` and `embed` to the program. */
export function addInferenceCommands(program: Command): void {
  modelOptions(
    program.command("predict").argument("<run-dir>", "a run directory")
      .argument("<images...>", "image files, or folders of them")
      .description(
        "zero-shot predictions for image files with a trained run: classes (cosine to each " +
          "class's prompt ensemble) or findings (each one's probability from its positive and " +
          "negative prompts), with the recipe's evaluators' nodes and prompts unless given",
      )
      .option(
        "--mode <mode>",
        "classes or findings (default: findings when a findings flag is given or the recipe " +
          "evaluates zero_shot_binary and not zero_shot, else classes)",
      )
      .option("--classes <names>", "comma-separated class names (default: the training data's)")
      .option("--template <text>", "class prompt template with {} (repeatable)", collect, [])
      .option("--findings <names>", "comma-separated findings (default: the recipe's)")
      .option("--positive <text>", "positive finding template with {} (repeatable)", collect, [])
      .option("--negative <text>", "negative finding template with {} (repeatable)", collect, [])
      .option("--scale <s>", "logit scale of the findings' pair softmax (default: the recipe's)")
      .option("--top <k>", "classes (default 3) or findings (default all) listed per image")
      .option("--json", "one JSON object per image instead of a table"),
  ).action(async (runDir: string, paths: string[], opts) => {
    if (opts.mode !== undefined && !["classes", "findings"].includes(opts.mode)) {
      throw new Error(`--mode is "${opts.mode}"; expected classes or findings`);
    }
    const request = predictRequest(opts);
    const files = await listImageFiles(paths);
    const model = await TrainedModel.load(runDir, loadOptions(opts));
    try {
      const lines = (request.mode ?? recipeMode(model)) === "findings"
        ? await predictFindings(model, files, request)
        : await predictClasses(model, files, request);
      lines.forEach((line) => console.log(line));
    } finally {
      model.dispose();
    }
  });

  modelOptions(
    program.command("embed").argument("<run-dir>", "a run directory")
      .description(
        "image and text embeddings of a trained run to a .safetensors file (tensors image " +
          "[N, D] and text [M, D], L2-normalised unless --raw; the inputs in its metadata)",
      )
      .option("--images <paths...>", "image files, or folders of them")
      .option("--texts <file>", "a text file, one text per line (blank lines skipped)")
      .option("--text <text>", "a text (repeatable)", collect, [])
      .requiredOption("--out <file>", "the .safetensors file to write")
      .option("--raw", "the nodes' outputs as they are, not L2-normalised"),
  ).action(async (runDir: string, opts) => {
    const batch = positive("--batch", opts.batch);
    const files = opts.images ? await listImageFiles(opts.images) : [];
    const texts = await readTexts(opts.texts, opts.text);
    if (files.length === 0 && texts.length === 0) {
      throw new Error("embed: nothing to embed; give --images, --texts or --text");
    }
    const model = await TrainedModel.load(runDir, loadOptions(opts));
    try {
      const options = { batch, normalize: !opts.raw };
      const tensors = new Map<string, TensorData>();
      if (files.length > 0) tensors.set("image", f32(await model.embedImages(files, options)));
      if (texts.length > 0) tensors.set("text", f32(await model.embedTexts(texts, options)));
      const metadata = {
        run: runDir,
        step: String(model.checkpoint.step),
        normalized: String(!opts.raw),
        ...(files.length > 0 && { image_node: model.nodes.image!, images: JSON.stringify(files) }),
        ...(texts.length > 0 && { text_node: model.nodes.text!, texts: JSON.stringify(texts) }),
      };
      await writeFileAtomic(opts.out, encodeSafetensors(tensors, metadata));
      const shapes = [...tensors].map(([k, t]) => `${k} [${t.shape.join(", ")}]`).join(", ");
      console.log(`${opts.out}: ${shapes}`);
    } finally {
      model.dispose();
    }
  });
}
