/**
 * A trained run used as a model (`core/trained_model.ts`): image files decode
 * to the pixels the data source gives; classifying them gives the scores the
 * `zero_shot` evaluator's pipeline computes on the same images with the
 * averaged weights; findings give `zero_shot_binary`'s AUROC and use its
 * nodes; the run is usable without its data (`data.json`); bad nodes are named.
 */
import assert from "node:assert/strict";
import { evaluateRun } from "../core/evaluate_run.ts";
import { DATA_FACTS_FILE } from "../core/data_facts.ts";
import { buildRecipe } from "../core/run.ts";
import { loadRunWeights } from "../core/run_weights.ts";
import { TrainedModel } from "../core/trained_model.ts";
import { auroc } from "../eval/classification.ts";
import { embedSplit } from "../eval/features.ts";
import { matMulTransposed, normalizeRows } from "../eval/linalg.ts";
import { promptEnsemble } from "../eval/zero_shot.ts";
import { trainedRun } from "./trained_run.ts";

const N = 24;

Deno.test({
  name: "predict: files score as the zero_shot evaluator's pipeline on the same images",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const fx = await trainedRun(N);
    try {
      const root = fx.run.paths.root;
      const model = await TrainedModel.load(root, { backend: "wasm" });
      try {
        assert.deepEqual(model.nodes, { image: "image_proj", text: "text_proj" });
        assert.equal(model.checkpoint.step, 6);
        assert.deepEqual(model.imageShape, [28, 28, 1]);
        // The PNGs decode to the source's pixels, so their embeddings are the source's.
        const decoded = await model.readImages(fx.files);
        assert.deepEqual(await decoded.data(), fx.pixels);
        const fromFiles = await model.embedImages(fx.files, { batch: 8 });
        assert.deepEqual(fromFiles, await model.embedImages(decoded, { batch: 8 }));
        decoded.dispose();
        const raw = await model.embedImages(fx.files, { normalize: false, batch: 8 });
        assert.deepEqual(fromFiles, normalizeRows(raw));

        // The evaluator's pipeline, built apart: the source's split, the recipe's templates.
        const { graph, source } = await buildRecipe(fx.recipe, fx.cache, { loadInit: false });
        const weights = await loadRunWeights(`${root}/checkpoints`, {
          recipe: fx.recipe,
          graph,
          runDir: root,
        });
        const inference = graph.inference({ seed: fx.recipe.seed });
        const templates = (fx.recipe.eval[0]!.params as { templates: string[] }).templates;
        const classes = await promptEnsemble(inference, {
          names: source.classNames,
          templates,
          node: "text_proj",
          batch: 8,
          who: "test",
        });
        const { image } = await embedSplit(inference, source, {
          split: "test",
          image: "image_proj",
          batch: 8,
          limit: N,
          who: "test",
        });
        weights.average?.dispose();
        graph.dispose();
        source.dispose();
        const expected = matMulTransposed(normalizeRows(image!), classes);
        const result = await model.classify(fx.files, { top: 10, batch: 8 });
        assert.equal(result.scores.rows, N);
        result.scores.data.forEach((v, i) => assert.ok(Math.abs(v - expected.data[i]!) < 1e-9));
        assert.deepEqual(result.top[0]!.map((c) => c.index).sort(), [...Array(10).keys()]);
        const hits = result.top.filter((t, i) => t[0]!.index === fx.labels[i]).length;
        const evaluated = await evaluateRun(root, { overrides: [`eval[0].limit=${N}`] });
        assert.equal(evaluated.results.zero_shot!.top1, hits / N);

        // Other classes and templates: two classes listed.
        const two = await model.classify(fx.files, { classes: ["seven", "two"], top: 5 });
        assert.deepEqual(two.classes, ["seven", "two"]);
        assert.equal(two.top[0]!.length, 2);
      } finally {
        model.dispose();
      }

      // The trained weights (not averaged) score otherwise.
      const trained = await TrainedModel.load(root, { overrides: ["train.ema.evaluate=raw"] });
      const averaged = await TrainedModel.load(root);
      try {
        const [a, b] = [await trained.embedImages(fx.files), await averaged.embedImages(fx.files)];
        assert.ok(a.data.some((v, i) => Math.abs(v - b.data[i]!) > 1e-6), "raw ≠ averaged");
      } finally {
        trained.dispose();
        averaged.dispose();
      }
    } finally {
      await fx.remove();
    }
  },
});

Deno.test({
  name: "predict: findings, their nodes, the run without its data, and named node errors",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const fx = await trainedRun(N);
    try {
      const root = fx.run.paths.root;
      // zero_shot_binary's nodes, findings and prompts; AUROC per finding as the evaluator's.
      const binary = "eval=[{ kind: zero_shot, image: image_proj, text: text_proj }, " +
        "{ kind: zero_shot_binary, image: image, text: text_proj, " +
        `limit: ${N}, bootstrap: 0, findings: [one, seven], negative: ["not {}"], scale: 5 }]`;
      const scorer = await TrainedModel.load(root, { overrides: [binary] });
      try {
        assert.deepEqual(scorer.nodes, { image: "image_proj", text: "text_proj" });
        assert.deepEqual(scorer.findingNodes, { image: "image", text: "text_proj" });
        assert.deepEqual(scorer.findingNames, ["one", "seven"]);
        const found = await scorer.findings(fx.files);
        assert.deepEqual(found.findings, ["one", "seven"]);
        const evaluated = await evaluateRun(root, { overrides: [binary] });
        for (const [f, name] of ["one", "seven"].entries()) {
          const column = (m: { data: Float64Array }) =>
            Array.from({ length: N }, (_, i) => m.data[i * 2 + f]!);
          const truth = fx.labels.map((l) => (l === (name === "one" ? 1 : 7) ? 1 : 0));
          const p = column(found.probability), logit = column(found.logit);
          p.forEach((v, i) => assert.ok(Math.abs(v - 1 / (1 + Math.exp(-logit[i]!))) < 1e-12));
          const expected = evaluated.results.zero_shot_binary![`auroc/${name}`]!;
          assert.ok(Number.isFinite(expected), `auroc/${name} defined`);
          assert.equal(auroc(logit, truth), expected);
        }
        // The logit is scale · (cos(pos) − cos(neg)) through the binary evaluator's image node.
        const text = { node: "text_proj" };
        const pos = await scorer.embedTexts(["one"], text);
        const neg = await scorer.embedTexts(["not one"], text);
        const img = await scorer.embedImages([fx.files[0]!], { node: "image" });
        const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
        const expected = 5 * (dot(img.data, pos.data) - dot(img.data, neg.data));
        assert.ok(Math.abs(found.logit.data[0]! - expected) < 1e-9);
      } finally {
        scorer.dispose();
      }

      // Without its data: data.json stands in for MNIST (gone here), and nothing else does.
      const gone = ["data.dir=/nonexistent/mnist"];
      const facts = JSON.parse(await Deno.readTextFile(`${root}/${DATA_FACTS_FILE}`));
      assert.deepEqual(facts.image_shape, [28, 28, 1]);
      assert.equal(facts.classes.length, 10);
      const withoutData = await TrainedModel.load(root, { overrides: gone });
      try {
        const again = await TrainedModel.load(root);
        const [a, b] = [await withoutData.classify(fx.files), await again.classify(fx.files)];
        again.dispose();
        assert.deepEqual(a.scores, b.scores);
      } finally {
        withoutData.dispose();
      }
      await Deno.remove(`${root}/${DATA_FACTS_FILE}`);
      await assert.rejects(() => TrainedModel.load(root, { overrides: gone }), /nonexistent/);

      // Bad nodes are named with what was expected.
      await assert.rejects(() => TrainedModel.load(fx.dir), /not a run directory \(no recipe/);
      await assert.rejects(
        () => TrainedModel.load(root, { image: "nope" }),
        /--image-node names image node "nope".*expected one of: .*image_proj/,
      );
      await assert.rejects(
        () => TrainedModel.load(root, { image: "text_proj" }),
        /--image-node names image node "text_proj", which reads batch\.caption; an image node reads batch\.image only/,
      );
      await assert.rejects(
        () => TrainedModel.load(root, { text: "image_proj" }),
        /which reads batch\.image; a text node reads batch\.caption only/,
      );
    } finally {
      await fx.remove();
    }
  },
});
