/**
 * The command line's use of a trained run: `predict` (zero-shot classes of
 * image files) and `embed` (image and text embeddings to a `.safetensors`
 * file), both on {@link TrainedModel}.
 *
 * ```sh
 * deno task predict runs/clip-… digits/ --top 3            # the training data's classes
 * deno task predict runs/clip-… a.png --classes cat,dog --template "a photo of a {}."
 * deno task embed runs/clip-… --images photos/ --texts captions.txt --out emb.safetensors
 * ```
 *
 * @module
 */
import { type Command, Option } from "commander";
import { BACKEND_CHOICES, type BackendChoice } from "./core/backend.ts";
import { writeFileAtomic } from "./core/atomic.ts";
import { stepReplayWanted } from "./core/device_step.ts";
import { encodeSafetensors, type TensorData } from "./core/safetensors.ts";
import { TrainedModel, type TrainedModelOptions } from "./core/trained_model.ts";
import { listImageFiles } from "./data/image_files.ts";
import type { Matrix } from "./eval/linalg.ts";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The options both commands take: which nodes, recipe overrides, backend, replay. */
function modelOptions(command: Command): Command {
  return command
    .option("--image-node <node>", "node giving image embeddings (default: the recipe's)")
    .option("--text-node <node>", "node giving text embeddings (default: the recipe's)")
    .addOption(
      new Option("--set <key=value>", "override the run's recipe (repeatable)")
        .argParser(collect).default([]),
    )
    .addOption(new Option("--backend <name>", "tensor backend").choices([...BACKEND_CHOICES]))
    .option("--batch <n>", "inputs per forward call", "64")
    .option("--no-replay", "webgpu: run every forward call as written");
}

/** {@link TrainedModelOptions} from the parsed common options. */
function loadOptions(opts: Record<string, unknown>): TrainedModelOptions {
  return {
    ...(opts.imageNode !== undefined && { image: opts.imageNode as string }),
    ...(opts.textNode !== undefined && { text: opts.textNode as string }),
    overrides: opts.set as string[],
    ...(opts.backend !== undefined && { backend: opts.backend as BackendChoice }),
    replay: opts.replay !== false && stepReplayWanted(),
  };
}

/** A positive integer option, or an error naming the flag. */
function positive(flag: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${flag} is ${JSON.stringify(value)}; expected an integer ≥ 1`);
  }
  return n;
}

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

/** Whether `predict` scores findings: asked for, or the recipe evaluates findings only. */
function findingsMode(model: TrainedModel, opts: Record<string, unknown>): boolean {
  const asked = opts.findings !== undefined || (opts.positive as string[]).length > 0 ||
    (opts.negative as string[]).length > 0 || opts.scale !== undefined;
  if (asked && opts.classes !== undefined) {
    throw new Error("predict: --classes scores classes, --findings findings; give one of them");
  }
  if (asked) return true;
  const kinds = model.recipe.eval.map((e) => e.kind);
  return opts.classes === undefined && kinds.includes("zero_shot_binary") &&
    !kinds.includes("zero_shot");
}

/** A prediction's lines: a header naming the run, then one line (or JSON object) per file. */
function predictionLines(
  files: string[],
  at: { header: string; json: boolean; rows: { name: string; score: number }[][] },
): string[] {
  if (at.json) return files.map((file, i) => JSON.stringify({ file, top: at.rows[i] }));
  const width = Math.max(...files.map((f) => f.length));
  return [
    at.header,
    ...files.map((file, i) =>
      `${file.padEnd(width)}  ${
        at.rows[i]!.map((c) => `${c.name} ${c.score.toFixed(3)}`).join("  ")
      }`
    ),
  ];
}

/** Which run, step and nodes a prediction comes from. */
function title(model: TrainedModel): string {
  return `${model.runDir} (step ${model.checkpoint.step}; ${model.nodes.image} · ` +
    `${model.nodes.text})`;
}

/** `predict` over classes. */
async function predictClasses(
  model: TrainedModel,
  files: string[],
  at: { opts: Record<string, unknown>; batch: number; top: number },
): Promise<string[]> {
  const { opts, batch, top } = at;
  const given = opts.template as string[];
  const templates = given.length > 0 ? given : model.templates;
  const classes = opts.classes === undefined ? undefined : parseNames("--classes", opts.classes);
  const result = await model.classify(files, {
    ...(classes && { classes }),
    templates,
    top,
    batch,
  });
  return predictionLines(files, {
    json: opts.json === true,
    rows: result.top,
    header: `${title(model)}: ` +
      `${result.classes.length} classes × ${templates.length} templates, cosine`,
  });
}

/** `predict` over findings: each one's probability, most probable first. */
async function predictFindings(
  model: TrainedModel,
  files: string[],
  at: { opts: Record<string, unknown>; batch: number; top: number | undefined },
): Promise<string[]> {
  const { opts, batch } = at;
  const many = (flag: string) => (opts[flag] as string[]).length > 0 ? opts[flag] as string[] : {};
  const findings = typeof opts.findings === "string"
    ? parseNames("--findings", opts.findings)
    : undefined;
  const scale = opts.scale === undefined ? undefined : Number(opts.scale);
  if (scale !== undefined && !(scale > 0)) {
    throw new Error(`--scale is ${JSON.stringify(opts.scale)}; expected a number > 0`);
  }
  const positiveTemplates = many("positive"), negativeTemplates = many("negative");
  const result = await model.findings(files, {
    ...(findings && { findings }),
    ...(Array.isArray(positiveTemplates) && { positive: positiveTemplates }),
    ...(Array.isArray(negativeTemplates) && { negative: negativeTemplates }),
    ...(scale !== undefined && { scale }),
    batch,
  });
  const f = result.findings.length;
  const rows = files.map((_, i) => {
    const p = result.probability.data.subarray(i * f, (i + 1) * f);
    return [...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b).slice(0, at.top ?? f)
      .map((j) => ({ name: result.findings[j]!, score: p[j]! }));
  });
  return predictionLines(files, {
    json: opts.json === true,
    rows,
    header: `${title(model)}: ${f} ` +
      `findings, probability of the positive prompt`,
  });
}

/** Adds `predict` and `embed` to the program. */
export function addInferenceCommands(program: Command): void {
  modelOptions(
    program.command("predict").argument("<run-dir>", "a run directory")
      .argument("<images...>", "image files, or folders of them")
      .description(
        "zero-shot predictions for image files with a trained run: classes (cosine to each " +
          "class's prompt ensemble) or, with findings, each finding's probability from its " +
          "positive and negative prompts (the recipe's evaluators' nodes and prompts unless given)",
      )
      .option("--classes <names>", "comma-separated class names (default: the training data's)")
      .option("--template <text>", "class prompt template with {} (repeatable)", collect, [])
      .option(
        "--findings [names]",
        "score findings instead of classes: comma-separated, or the recipe's zero_shot_binary " +
          "ones (the default mode when the recipe has that evaluator and no zero_shot)",
      )
      .option("--positive <text>", "positive finding template with {} (repeatable)", collect, [])
      .option("--negative <text>", "negative finding template with {} (repeatable)", collect, [])
      .option("--scale <s>", "logit scale of the findings' pair softmax (default: the recipe's)")
      .option("--top <k>", "classes (default 3) or findings (default all) listed per image")
      .option("--json", "one JSON object per image instead of a table"),
  ).action(async (runDir: string, paths: string[], opts) => {
    const top = opts.top === undefined ? undefined : positive("--top", opts.top);
    const batch = positive("--batch", opts.batch);
    const files = await listImageFiles(paths);
    const model = await TrainedModel.load(runDir, loadOptions(opts));
    try {
      const lines = findingsMode(model, opts)
        ? await predictFindings(model, files, { opts, batch, top })
        : await predictClasses(model, files, { opts, batch, top: top ?? 3 });
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
