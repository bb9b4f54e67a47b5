/**
 * A trained run used as a model (`core/trained_model.ts`, `deno task predict`,
 * `deno task embed`): image files decode to the pixels the data source gives,
 * zero-shot predictions of files agree with the `zero_shot` evaluator on the
 * same images, the embeddings file holds what it says, and bad input is
 * named.
 */
import assert from "node:assert/strict";
import { buildProgram } from "../cli.ts";
import { initBackend } from "../core/backend.ts";
import { evaluateRun } from "../core/evaluate_run.ts";
import { buildRecipe, runRecipe } from "../core/run.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import { auroc } from "../eval/classification.ts";
import { TrainedModel } from "../core/trained_model.ts";
import { loadSharp } from "../data/sharp.ts";
import { seedTextCache } from "./offline_data.ts";
import { tinyRecipe } from "./tiny_runs.ts";

const N = 24;

async function capture(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    await buildProgram().parseAsync(args, { from: "user" });
  } finally {
    console.log = original;
  }
  return lines;
}

/** Writes the first `N` test images of the recipe's MNIST as PNG files; returns paths and labels. */
async function writeTestImages(
  recipe: Awaited<ReturnType<typeof tinyRecipe>>,
  at: { dir: string; cache: string },
): Promise<{ files: string[]; labels: number[]; pixels: Float32Array }> {
  const { graph, source } = await buildRecipe(recipe, at.cache, { loadInit: false });
  graph.dispose();
  const options = { batchSize: N, seed: 0, shuffle: false, dropLast: false, hostPixels: true };
  const batch = await source.batch("test", 0, options);
  const pixels = await batch.image.data() as Float32Array;
  batch.image.dispose();
  source.dispose();
  const sharp = await loadSharp();
  const files: string[] = [];
  await Deno.mkdir(`${at.dir}/images`);
  for (let i = 0; i < N; i++) {
    const raw = Uint8Array.from(
      pixels.subarray(i * 784, (i + 1) * 784),
      (v) => Math.round(v * 255),
    );
    const file = `${at.dir}/images/${String(i).padStart(2, "0")}.png`;
    await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(file);
    files.push(file);
  }
  return { files, labels: [...batch.label], pixels };
}

Deno.test({
  name: "predict: files classify as the zero_shot evaluator does; embed writes what it says",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-predict-" });
    const cache = `${dir}/cache`;
    await seedTextCache(cache);
    const previousCache = Deno.env.get("NOVALAB_CACHE");
    Deno.env.set("NOVALAB_CACHE", cache);
    try {
      await initBackend("wasm");
      const recipe = await tinyRecipe("recipes/clip.yaml", ["train.steps=6", "backend=wasm"]);
      const run = await runRecipe(recipe, { runsDir: dir, cacheDir: cache, quiet: true });
      const { files, labels, pixels } = await writeTestImages(recipe, { dir, cache });

      const model = await TrainedModel.load(run.paths.root, { backend: "wasm" });
      try {
        assert.deepEqual(model.nodes, { image: "image_proj", text: "text_proj" });
        assert.equal(model.templates.length, 3);
        assert.equal(model.checkpoint.step, 6);
        assert.deepEqual(model.imageShape, [28, 28, 1]);
        // The PNGs decode to the source's pixels, so their embeddings are the source's.
        const decoded = await model.readImages(files);
        assert.deepEqual(await decoded.data(), pixels);
        const fromFiles = await model.embedImages(files, { batch: 8 });
        const fromSource = await model.embedImages(decoded, { batch: 8 });
        decoded.dispose();
        assert.deepEqual(fromFiles, fromSource);
        for (let i = 0; i < N; i++) {
          const row = fromFiles.data.subarray(i * fromFiles.cols, (i + 1) * fromFiles.cols);
          assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-9, "unit rows");
        }
        const raw = await model.embedImages(files, { normalize: false });
        assert.ok(raw.data.some((v, i) => Math.abs(v - fromFiles.data[i]!) > 1e-6), "raw differs");

        // Top-1 of the files is the evaluator's accuracy on the same N test images.
        const result = await model.classify(files, { top: 10 });
        assert.equal(result.scores.rows, N);
        assert.deepEqual(result.top[0]!.map((c) => c.index).sort(), [...Array(10).keys()]);
        const hits = result.top.filter((t, i) => t[0]!.index === labels[i]).length;
        const evaluated = await evaluateRun(run.paths.root, {
          backend: "wasm",
          overrides: [`eval[0].limit=${N}`],
        });
        assert.equal(evaluated.results.zero_shot!.n, N);
        assert.equal(evaluated.results.zero_shot!.top1, hits / N);

        // Other classes and templates: two classes, scores from the same embeddings.
        const two = await model.classify(files, {
          classes: ["seven", "two"],
          templates: ["the number {}."],
          top: 5,
        });
        assert.equal(two.top[0]!.length, 2);
        assert.deepEqual(two.classes, ["seven", "two"]);
      } finally {
        model.dispose();
      }

      // Findings: with a zero_shot_binary evaluator in the recipe, its findings and prompts; each
      // finding's AUROC over the files is the evaluator's on the same images (one-vs-rest).
      const binary = "eval=[{ kind: zero_shot_binary, image: image_proj, text: text_proj, " +
        `limit: ${N}, bootstrap: 0, findings: [one, seven], negative: ["not {}"], scale: 5 }]`;
      const scorer = await TrainedModel.load(run.paths.root, { overrides: [binary] });
      try {
        assert.deepEqual(scorer.findingNames, ["one", "seven"]);
        const found = await scorer.findings(files);
        assert.deepEqual(found.findings, ["one", "seven"]);
        const evaluated = await evaluateRun(run.paths.root, { overrides: [binary] });
        for (const [f, name] of ["one", "seven"].entries()) {
          const column = (m: { data: Float64Array }) =>
            Array.from({ length: N }, (_, i) => m.data[i * 2 + f]!);
          const truth = labels.map((l) => (l === (name === "one" ? 1 : 7) ? 1 : 0));
          const p = column(found.probability), logit = column(found.logit);
          p.forEach((v, i) => assert.ok(Math.abs(v - 1 / (1 + Math.exp(-logit[i]!))) < 1e-12));
          const expected = evaluated.results.zero_shot_binary![`auroc/${name}`]!;
          assert.ok(Number.isFinite(expected), `auroc/${name} defined`);
          assert.equal(auroc(logit, truth), expected);
        }
        // The logit is scale · (cos(pos) − cos(neg)) of the prompts as given.
        const [pos, neg] = [await scorer.embedTexts(["one"]), await scorer.embedTexts(["not one"])];
        const img = await scorer.embedImages([files[0]!]);
        const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
        const expected = 5 * (dot(img.data, pos.data) - dot(img.data, neg.data));
        assert.ok(Math.abs(found.logit.data[0]! - expected) < 1e-9);
      } finally {
        scorer.dispose();
      }

      // The command line: a table line per file (folder expanded, sorted), JSON lines, embed.
      const table = await capture([
        "predict",
        run.paths.root,
        `${dir}/images`,
        "--backend",
        "wasm",
        "--top",
        "2",
      ]);
      assert.match(table[0]!, /\(step 6; image_proj · text_proj\): 10 classes × 3 templates/);
      assert.equal(table.length, N + 1);
      assert.match(table[1]!, /images\/00\.png +[a-z]+ -?\d\.\d{3} {2}[a-z]+ -?\d\.\d{3}$/);
      const json = await capture([
        "predict",
        run.paths.root,
        files[3]!,
        "--json",
        "--classes",
        "one, two,three",
        "--template",
        "{}",
      ]);
      const parsed = JSON.parse(json[0]!);
      assert.equal(parsed.file, files[3]);
      assert.deepEqual(parsed.top.map((c: { name: string }) => c.name).sort(), [
        "one",
        "three",
        "two",
      ]);

      const out = `${dir}/emb.safetensors`;
      await capture([
        "embed",
        run.paths.root,
        "--images",
        files[0]!,
        files[1]!,
        "--text",
        "the number seven.",
        "--text",
        "the number two.",
        "--out",
        out,
      ]);
      const { tensors, metadata } = decodeSafetensors(await Deno.readFile(out));
      assert.deepEqual(tensors.get("image")!.shape, [2, 64]);
      assert.deepEqual(tensors.get("text")!.shape, [2, 64]);
      assert.deepEqual(JSON.parse(metadata!.images!), files.slice(0, 2));
      assert.deepEqual(JSON.parse(metadata!.texts!), ["the number seven.", "the number two."]);
      assert.equal(metadata!.image_node, "image_proj");
      assert.equal(metadata!.normalized, "true");

      // predict --findings: each file's findings, most probable first.
      const findings = await capture([
        "predict",
        run.paths.root,
        files[0]!,
        files[1]!,
        "--findings",
        "seven,two,one",
        "--negative",
        "no {}",
      ]);
      assert.match(findings[0]!, /: 3 findings, probability of the positive prompt$/);
      assert.match(findings[1]!, /00\.png( {2}(seven|two|one) [01]\.\d{3}){3}$/);

      // Bad input: named, with what was expected.
      await assert.rejects(() => TrainedModel.load(dir), /not a run directory \(no recipe\.yaml\)/);
      await assert.rejects(
        () => TrainedModel.load(run.paths.root, { image: "nope", backend: "wasm" }),
        /--image-node names image node "nope".*expected one of: .*image_proj/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, files[0]!, "--classes", "one"]),
        /1 class names .* name at least 2/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, files[0]!, "--classes", "a,b", "--findings"]),
        /--classes scores classes, --findings findings; give one of them/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, files[0]!, "--positive", "{}", "--scale", "-1"]),
        /--scale is "-1"; expected a number > 0/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, files[0]!, "--positive", "a finding"]),
        /template "a finding" has no "\{\}"/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, `${dir}/cache`]),
        /a folder without image files/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, `${dir}/missing.png`]),
        /missing\.png: no such file or folder/,
      );
      await Deno.writeTextFile(`${dir}/notes.png`, "not an image");
      await assert.rejects(
        () => capture(["predict", run.paths.root, `${dir}/notes.png`]),
        /cannot decode image ".*notes\.png"/,
      );
      await assert.rejects(
        () => capture(["embed", run.paths.root, "--out", out]),
        /nothing to embed/,
      );
      await assert.rejects(
        () => capture(["predict", run.paths.root, files[0]!, "--top", "0"]),
        /--top is "0"; expected an integer ≥ 1/,
      );
    } finally {
      if (previousCache === undefined) Deno.env.delete("NOVALAB_CACHE");
      else Deno.env.set("NOVALAB_CACHE", previousCache);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
