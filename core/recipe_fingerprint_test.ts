import assert from "node:assert/strict";
import { recipeDifferences, trainingRecipe } from "./recipe_fingerprint.ts";

/** The differences between two recipes' fingerprints. */
const diff = (a: string, b: string) =>
  recipeDifferences(JSON.parse(trainingRecipe(a)), JSON.parse(trainingRecipe(b)));

Deno.test("recipeDifferences: leaf by leaf, in key order; lists by index", () => {
  assert.deepEqual(diff("a: 1\nb: { c: [1, 2] }\n", "a: 1\nb: { c: [1, 3], d: x }\n"), [
    "b.c[1]: 2 → 3",
    'b.d: (absent) → "x"',
  ]);
  assert.deepEqual(diff("a: 1\n", "a: 1\n"), []);
});

Deno.test("fingerprint: what a resume may change is left out; locations masked, keys kept", () => {
  const base = `name: a
vars: { lr: 0.001 }
data: { kind: chexpert, root: /a, csv: { train: /a/t.csv }, cache: true, concurrency: 8 }
nodes:
  images: { kind: vit, activation: gelu, init_from: /runs/x }
  text: { kind: hf_text, model: Xenova/bert, model_dir: /models }
train: { steps: 10, log_every: 1, checkpoint_every: 5 }
eval: [{ kind: zero_shot }]
`;
  const moved = base.replace(/\/a/g, "/b").replace("/models", "/m2").replace("/runs/x", "/y")
    .replace("name: a", "name: b").replace("lr: 0.001", "lr: 9").replace(
      "cache: true",
      "cache: false",
    )
    .replace("concurrency: 8", "concurrency: 2").replace("log_every: 1", "log_every: 3")
    .replace("checkpoint_every: 5", "checkpoint_every: 1").replace("zero_shot", "retrieval");
  assert.deepEqual(diff(base, moved), [], "locations, cadence, vars, eval, name, loading");
  // A node named like a location key is compared like any other.
  assert.deepEqual(diff(base, base.replace("gelu", "relu")), [
    'nodes.images.activation: "gelu" → "relu"',
  ]);
  // A new split under csv is a change; so are the text tower's model and the steps.
  assert.deepEqual(
    diff(base, base.replace("{ train: /a/t.csv }", "{ train: /a/t.csv, test: /v }")),
    [
      'data.csv.test: (absent) → "<location>"',
    ],
  );
  assert.deepEqual(diff(base, base.replace("Xenova/bert", "Xenova/other").replace("10", "20")), [
    'nodes.text.model: "Xenova/bert" → "Xenova/other"',
    "train.steps: 10 → 20",
  ]);
  // Shard patterns choose the data: compared.
  const shards = "data: { kind: webdataset, shards: 'x-{000..009}.tar' }\n";
  assert.equal(diff(shards, shards.replace("009", "099")).length, 1);
});
