import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fakeRegistries } from "../../tests/fixtures/recipes/fake_registries.ts";
import {
  formatResolvedRecipe,
  type LoadedRecipe,
  loadRecipe,
  loadRecipeFromText,
  RecipeError,
} from "./mod.ts";

const ROOT = fileURLToPath(new URL("../../tests/fixtures/recipes/", import.meta.url));
const readFixture = (path: string): string => Deno.readTextFileSync(join(ROOT, path));

function loadNova(overrides: string[] = []): LoadedRecipe {
  return loadRecipeFromText(readFixture("ok/nova.yaml"), {
    file: "ok/nova.yaml",
    readFile: readFixture,
    overrides,
    registries: fakeRegistries(),
  });
}

/** Loads `main` from an in-memory file set. */
function loadVirtual(
  files: Record<string, string>,
  options: { main?: string; overrides?: string[] } = {},
): LoadedRecipe {
  const main = options.main ?? "main.yaml";
  const readFile = (path: string): string => {
    if (!(path in files)) throw new Deno.errors.NotFound(path);
    return files[path];
  };
  return loadRecipeFromText(files[main], {
    file: main,
    readFile,
    overrides: options.overrides,
    registries: fakeRegistries(),
  });
}

const BODY = `
data: { kind: mnist }
nodes:
  image: { kind: vit, input: batch.image, preset: tiny }
losses:
  - { kind: sigreg, inputs: { x: image } }
`;

Deno.test("extends: bases merge in order, the file itself on top, maps merge deeply", () => {
  const files = {
    "a.yaml": "seed: 1\ntrain: { steps: 10, batch: 4, optimizer: { kind: adamw, lr: 0.1 } }\n",
    "b.yaml": "seed: 2\ntrain: { batch: 8, optimizer: { lr: 0.2 } }\n",
    "main.yaml": `extends: [a.yaml, b.yaml]\ntrain: { steps: 20 }\n${BODY}`,
    "rev.yaml": `extends: [b.yaml, a.yaml]\n${BODY}`,
  };
  const { recipe } = loadVirtual(files);
  assert.equal(recipe.seed, 2);
  assert.equal(recipe.train.steps, 20);
  assert.equal(recipe.train.batch, 8);
  assert.equal(recipe.train.optimizer.lr, 0.2);
  assert.equal(recipe.train.optimizer.kind, "adamw");
  const reversed = loadVirtual(files, { main: "rev.yaml" }).recipe;
  assert.equal(reversed.seed, 1);
  assert.equal(reversed.train.batch, 4);
  assert.equal(reversed.train.optimizer.lr, 0.1);
});

Deno.test("extends: lists replace instead of merging; sources list every file read", () => {
  const loaded = loadNova();
  assert.deepEqual(loaded.sources, ["ok/nova.yaml", "ok/base/data.yaml", "ok/base/model.yaml"]);
  assert.deepEqual(Object.keys(loaded.recipe.nodes), [
    "views",
    "image",
    "pred",
    "text_raw",
    "text",
  ]);
  assert.equal(loaded.recipe.seed, 7);
  assert.equal(loaded.recipe.train.steps, 100);
  assert.equal(loaded.recipe.train.batch, 64);
  const files = {
    "base.yaml": `${BODY}eval: [{ kind: retrieval }, { kind: retrieval }]\n` +
      "train: { steps: 1, batch: 1, optimizer: { kind: adamw, lr: 1 } }\n",
    "main.yaml": "extends: base.yaml\neval: [{ kind: retrieval, k: [1] }]\n",
  };
  assert.deepEqual(loadVirtual(files).recipe.eval, [
    { kind: "retrieval", name: "retrieval", params: { k: [1] } },
  ]);
});

Deno.test("vars: typed values, text arithmetic, vars of vars, merged across extends", () => {
  const { recipe, raw } = loadNova();
  assert.deepEqual(recipe.vars, { dim: 64, lambda: 0.05, width: 128 });
  assert.deepEqual(recipe.nodes.pred.params.layers, [128, 64]);
  assert.deepEqual(recipe.nodes.text.params.layers, [64]);
  assert.equal(recipe.losses[0].weight, 0.95);
  assert.equal(recipe.losses[1].weight, 0.05);
  const rawLosses = raw.losses as { weight: unknown }[];
  assert.equal(rawLosses[0].weight, "1 - 0.05");
  assert.equal(rawLosses[1].weight, 0.05);
  const files = {
    "main.yaml": `vars: { base: 32, dim: "\${base}", wide: "2 * \${base}", widths: [16, "\${dim}"] }
train: { steps: "\${base}", batch: 4, optimizer: { kind: adamw, lr: 1e-3 } }
name: "run-\${base}"
${BODY}  - { kind: sigreg, inputs: { x: [image] }, slices: "\${wide}" }
eval: [{ kind: retrieval, k: \${widths} }]
`,
  };
  const r = loadVirtual(files).recipe;
  assert.deepEqual(r.vars, { base: 32, dim: 32, wide: "2 * 32", widths: [16, 32] });
  assert.equal(r.name, "run-32");
  assert.equal(r.train.steps, 32);
  assert.equal(r.losses[1].params.slices, 64);
  assert.deepEqual(r.eval[0].params.k, [16, 32]);
});

Deno.test("--set: applied after extends and before interpolation, later wins", () => {
  const { recipe, locate } = loadNova([
    "vars.lambda=0.1",
    "train.batch=16",
    "nodes.pred.layers=[8, ${dim}]",
    "losses[1].weight=0.2",
    "train.batch=8",
    "train.clip_grad_norm=2",
    "data.captions=words",
  ]);
  assert.equal(recipe.losses[0].weight, 0.9);
  assert.equal(recipe.losses[1].weight, 0.2);
  assert.equal(recipe.train.batch, 8);
  assert.deepEqual(recipe.nodes.pred.params.layers, [8, 64]);
  assert.equal(recipe.train.clip_grad_norm, 2);
  assert.equal(recipe.data.params.captions, "words");
  assert.deepEqual(locate("train.batch"), { file: "--set train.batch=8", line: 0, column: 5 });
  assert.deepEqual(locate("nodes.pred.layers[1]"), {
    file: "--set nodes.pred.layers=[8, ${dim}]",
    line: 0,
    column: 3,
  });
  const unset = loadNova(["train.clip_grad_norm=1", "train.clip_grad_norm=null"]);
  assert.equal(unset.recipe.train.clip_grad_norm, undefined);
});

Deno.test("locate: values point at the file and line that supplied them", () => {
  const { locate } = loadNova();
  assert.deepEqual(locate("train.steps"), { file: "ok/base/data.yaml", line: 5, column: 10 });
  assert.deepEqual(locate("train.batch"), { file: "ok/nova.yaml", line: 11, column: 10 });
  assert.deepEqual(locate("nodes.pred.layers[1]"), {
    file: "ok/base/model.yaml",
    line: 6,
    column: 56,
  });
  assert.deepEqual(locate("losses[0].weight"), { file: "ok/nova.yaml", line: 8, column: 71 });
  assert.deepEqual(locate("nodes.text"), { file: "ok/nova.yaml", line: 6, column: 3 });
  // A default has no location of its own: it resolves to its nearest located ancestor.
  assert.deepEqual(locate("data.captions"), { file: "ok/base/data.yaml", line: 3, column: 1 });
  assert.equal(locate("losses[")?.file, undefined);
});

Deno.test("defaults and normalisation of the resolved recipe", () => {
  const { recipe } = loadNova();
  assert.equal(recipe.name, "nova");
  assert.equal(recipe.backend, "auto");
  assert.deepEqual(recipe.nodes.views, {
    kind: "views",
    input: ["batch.image"],
    phase: "all",
    freeze: false,
    params: { count: 2 },
  });
  assert.deepEqual(recipe.train.schedule, { kind: "warmup_cosine", warmup: 0, min_lr_ratio: 0 });
  assert.deepEqual(recipe.train.optimizer, {
    kind: "adamw",
    lr: 1e-3,
    weight_decay: 0.05,
    betas: [0.9, 0.999],
    eps: 1e-8,
  });
  assert.equal(recipe.train.accumulate, 1);
  assert.equal(recipe.train.log_every, 10);
  assert.equal(recipe.train.checkpoint_every, 0);
  assert.equal(recipe.train.clip_grad_norm, undefined);
  assert.deepEqual(recipe.data, { kind: "mnist", params: { split: "train", captions: "digits" } });
  assert.deepEqual(recipe.losses[1].inputs, { x: ["pred", "text"] });
  assert.deepEqual(recipe.eval, [{
    kind: "zero_shot",
    name: "zero_shot",
    params: { image: "pred", text: "text", templates: ["{}"] },
  }]);
});

Deno.test("list roles accept one reference; repeated kinds get indexed names", () => {
  const files = {
    "base.yaml": `${BODY}  - { kind: sigreg, inputs: { x: [image, image] }, name: twice }
  - { kind: clip, inputs: { image: image, text: image } }
  - { kind: clip, inputs: { image: image, text: image, logit_scale: image } }
train: { steps: 1, batch: 1, optimizer: { kind: adamw, lr: 1 } }
`,
    "main.yaml": "extends: [base.yaml]\nnodes: { image: { phase: train } }\n",
  };
  const { recipe } = loadVirtual(files);
  assert.deepEqual(recipe.losses.map((l) => l.name), ["sigreg", "twice", "clip_2", "clip_3"]);
  assert.deepEqual(recipe.losses[0].inputs, { x: ["image"] });
  assert.equal(recipe.losses[3].inputs.logit_scale, "image");
  assert.equal(recipe.nodes.image.phase, "train");
  assert.equal(recipe.name, "main");
});

Deno.test("formatResolvedRecipe prints a recipe that loads to the same resolved recipe", () => {
  const loaded = loadNova(["train.clip_grad_norm=0.5"]);
  const text = formatResolvedRecipe(loaded);
  assert.match(text, /^# resolved recipe "nova" from: ok\/nova.yaml, ok\/base\/data.yaml/);
  assert.match(text, /layers: \[ 128, 64 \]/);
  const again = loadRecipeFromText(text, { file: "printed.yaml", registries: fakeRegistries() });
  assert.deepEqual(again.recipe, loaded.recipe);
});

Deno.test("loadRecipe reads files relative to the working directory", async () => {
  const path = join(ROOT, "ok/nova.yaml");
  const loaded = await loadRecipe(path, { registries: fakeRegistries() });
  assert.deepEqual(loaded.sources, [
    path,
    join(ROOT, "ok/base/data.yaml"),
    join(ROOT, "ok/base/model.yaml"),
  ]);
  assert.equal(loaded.recipe.name, "nova");
  await assert.rejects(
    loadRecipe(join(ROOT, "ok/nope.yaml"), { registries: fakeRegistries() }),
    (e: unknown) =>
      e instanceof RecipeError && e.message ===
        `${join(ROOT, "ok/nope.yaml")}: cannot read recipe: file not found\n` +
          "  expected the path of a recipe YAML file, relative to the working directory",
  );
});
