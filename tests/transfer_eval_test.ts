/**
 * Transfer evaluation (`eval[i].data`): a recipe trains on MNIST and scores
 * another dataset with the same evaluators — its own class names, its own
 * splits, diagnostics during training on it — and every mistake in such an
 * entry (kind, parameters, path, split, image shape) stops the run before
 * any training step, naming the entry's line.
 */
import assert from "node:assert/strict";
import { loadRunnableFromText } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import { readMetrics } from "../core/rundir.ts";
import { encodeIdx } from "../data/idx.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";

/** A tiny NOVA on MNIST; `{VIEWS}` and `{EVAL}` are filled in by each test. */
const RECIPE = `
extends: [base/mnist.yaml, base/cpu_train.yaml]
name: transfer
data: { limit: { train: 128, test: 48 } }
train: { steps: 4, batch: 16, log_every: 1, checkpoint_every: 0, schedule: { kind: constant } }
nodes:
{VIEWS}
  pred: { kind: mlp, input: image, layers: [32, 16], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text: { kind: mlp, input: text_raw, layers: [32, 16], norm: batch }
losses:
  - { kind: prediction, inputs: { pred: pred, target: text }, weight: 0.95 }
  - { kind: sigreg, inputs: { x: [pred, text] }, weight: 0.05, slices: 32 }
eval:
  - { kind: zero_shot, image: pred, text: text, per_class: true }
{EVAL}`;

const WITH_VIEWS =
  `  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1], size: 28 }
  image: { kind: vit, input: views, dim: 32, depth: 1, heads: 2, patch: 7 }`;
const NO_VIEWS =
  `  image: { kind: vit, input: batch.image, dim: 32, depth: 1, heads: 2, patch: 7 }`;

/** An IDX dataset of `size`×`size` grey images, three classes, 30 train and 21 test samples. */
async function idxDataset(size: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "novalab-transfer-idx-" });
  for (const [prefix, n] of [["train", 30], ["t10k", 21]] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
    const pixels = Uint8Array.from(
      { length: n * size * size },
      (_, p) => (labels[Math.floor(p / (size * size))]! * 100 + (p % size) * 7) % 256,
    );
    await Deno.writeFile(
      `${dir}/${prefix}-images-idx3-ubyte`,
      encodeIdx({ dims: [n, size, size], data: pixels }),
    );
    await Deno.writeFile(
      `${dir}/${prefix}-labels-idx1-ubyte`,
      encodeIdx({ dims: [n], data: labels }),
    );
  }
  return dir;
}

function recipeText(views: string, evalEntries: string): string {
  return RECIPE.replace("{VIEWS}", views).replace("{EVAL}", evalEntries);
}

function load(text: string, overrides: string[] = []) {
  return loadRunnableFromText(text, {
    file: "recipes/transfer.yaml",
    overrides: [...mnistDirOverride(), ...overrides],
  });
}

/** Runs the recipe into a fresh folder; returns the result and the folders made. */
async function run(text: string, overrides: string[] = []) {
  const runsDir = await Deno.makeTempDir({ prefix: "novalab-transfer-runs-" });
  const cacheDir = `${runsDir}/.cache`;
  await seedTextCache(cacheDir);
  const options = { runsDir, cacheDir, backend: "wasm" as const, quiet: true, skipReport: true };
  const made = async () =>
    (await Array.fromAsync(Deno.readDir(runsDir))).map((e) => e.name).filter((n) => n !== ".cache");
  try {
    return { result: await runRecipe(load(text, overrides), options), made: await made() };
  } catch (e) {
    return { error: e as Error, made: await made() };
  }
}

const SHAPES = `
  - kind: zero_shot
    name: shapes
    data: { kind: mnist, dir: "{DIR}", classes: [cat, dog, bird], name: shapes }
    image: pred
    text: text
    templates: ["a photo of a {}."]
    per_class: true
  - kind: diagnostics
    data: { kind: mnist, dir: "{DIR}", classes: [cat, dog, bird], name: shapes }
    image: pred
    text: text
    every: 2
`;

Deno.test({
  name: "transfer eval: evaluators score their own data source, during and after training",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await idxDataset(12); // 12 px: the views node resizes it to the graph's 28
    const { result, error } = await run(recipeText(WITH_VIEWS, SHAPES.replaceAll("{DIR}", dir)));
    if (error) throw error;
    const { eval: metrics, paths } = result!;
    // MNIST's own evaluator: its digit names; the transfer one: the other set's names.
    assert.ok("acc/seven" in metrics.zero_shot!, Object.keys(metrics.zero_shot!).join());
    assert.deepEqual(
      Object.keys(metrics.shapes!).filter((k) => k.startsWith("acc/")).sort(),
      ["acc/bird", "acc/cat", "acc/dog"],
    );
    assert.equal(metrics.zero_shot!.n, 48);
    assert.equal(metrics.shapes!.n, 21);
    assert.ok(metrics.shapes!.top1! >= 0 && metrics.shapes!.top1! <= 1);
    assert.equal(metrics.shapes!.top5, undefined, "three classes: no top-5");
    // Diagnostics after steps 2 and 4 and at the end embed the other set's 21 test images.
    const logged = (await readMetrics(paths)).filter((m) => m.diagnostics);
    assert.deepEqual(logged.map((m) => m.step), [1, 3]);
    for (const m of logged) assert.equal((m.diagnostics as Record<string, number>).n, 21);
    assert.equal(metrics.diagnostics!.n, 21);
    await Deno.remove(paths.root, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "transfer eval: a wrong path, split or image shape in eval[i].data stops before training",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await idxDataset(12);
    const entry = (extra: string, path = dir) =>
      `  - kind: zero_shot\n    image: pred\n    text: text\n` +
      `    data: { kind: mnist, dir: "${path}", classes: [cat, dog, bird] }\n${extra}`;
    // A folder that is not there: the source's error, prefixed with the entry's line.
    const missing = await run(recipeText(WITH_VIEWS, entry("", `${dir}/nowhere`)));
    assert.match(missing.error!.message, /transfer\.yaml:\d+:\d+: eval\[1\]\.data \(mnist\): /);
    assert.deepEqual(missing.made, [], "no run directory: nothing trained");
    // A split the other source lacks: named with the entry's source, before training.
    const split = await run(recipeText(WITH_VIEWS, entry("    split: val\n")));
    assert.match(
      split.error!.message,
      /eval\[1\]\.split: zero_shot reads split "val", which eval\[1\]\.data \(.+\) does not have/,
    );
    assert.match(split.error!.message, /expected one of: train, test/);
    assert.deepEqual(split.made, []);
    // Without a views node the ViT takes 28 px only: 12 px images are refused up front.
    const shape = await run(recipeText(NO_VIEWS, entry("")));
    assert.match(
      shape.error!.message,
      /eval\[1\]\.data \(.+\): its images are 12×12×1 but the graph was built on data:'s 28×28×1, and node "pred" cannot take them/,
    );
    assert.match(shape.error!.message, /fix: mnist does not resize; a views node with size: 28/);
    assert.deepEqual(shape.made, []);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("transfer eval: eval[i].data is validated like data:, located, and printed back", () => {
  const bad = `  - kind: zero_shot\n    image: pred\n    text: text\n` +
    `    data: { kind: minst }\n  - kind: knn\n    image: pred\n` +
    `    data: { kind: mnist, limit: { train: -1 } }\n`;
  assert.throws(() => load(recipeText(WITH_VIEWS, bad)), (e: Error) => {
    assert.match(
      e.message,
      /transfer\.yaml:20:\d+: eval\[1\]\.data\.kind: unknown data source kind "minst" \(did you mean "mnist"\?\)/,
    );
    assert.match(e.message, /transfer\.yaml:23:\d+: eval\[2\]\.data\.limit\.train/);
    return true;
  });
  const ok = `  - kind: knn\n    image: pred\n    data: { kind: fashion_mnist, val: 0.1 }\n`;
  const recipe = load(recipeText(WITH_VIEWS, ok), ["eval[1].data.val=0.2"]);
  const knn = recipe.eval[1]!;
  assert.equal(knn.data!.kind, "fashion_mnist");
  assert.equal((knn.data!.params as { val: number }).val, 0.2, "--set reaches eval[i].data");
  assert.ok(!("data" in (knn.params as object)), "data is not an evaluator parameter");
  assert.equal(recipe.eval[0]!.data, undefined);
  // The resolved YAML (what `validate` prints and the run directory keeps) loads to the same.
  const again = loadRunnableFromText(recipe.yaml, { file: "recipes/resolved.yaml" });
  assert.deepEqual(again.eval, recipe.eval);
});
