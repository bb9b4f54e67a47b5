import assert from "node:assert/strict";
import { applyOverrides } from "./overrides.ts";
import { indexLocations, toPlain } from "./tree.ts";
import { parseYaml } from "./yaml_source.ts";

const BASE = "train: { batch: 32 }\nlosses: [{ weight: 1 }, { weight: 2 }]\n";

function apply(overrides: string[]): { plain: unknown; messages: string[] } {
  const { tree, issues } = applyOverrides(parseYaml(BASE, "b.yaml").tree, overrides);
  return { plain: toPlain(tree), messages: issues.map((i) => `${i.keyPath}: ${i.message}`) };
}

Deno.test("overrides: scalars, YAML values, list items and new keys", () => {
  const { plain, messages } = apply([
    "train.batch=64",
    "losses[1].weight=0.2",
    "nodes.pred={ layers: [64, 64] }",
    "name = run a",
  ]);
  assert.deepEqual(messages, []);
  assert.deepEqual(plain, {
    train: { batch: 64 },
    losses: [{ weight: 1 }, { weight: 0.2 }],
    nodes: { pred: { layers: [64, 64] } },
    name: "run a",
  });
});

Deno.test("overrides: values are located at the override", () => {
  const { tree } = applyOverrides(parseYaml(BASE, "b.yaml").tree, ["x=1", "train.batch=[8]"]);
  const { values, keys } = indexLocations(tree);
  assert.deepEqual(values.get("train.batch[0]"), {
    file: "--set train.batch=[8]",
    line: 0,
    column: 2,
  });
  assert.deepEqual(keys.get("x"), { file: "--set x=1", line: 0, column: 1 });
  assert.deepEqual(values.get("losses[0].weight")?.file, "b.yaml");
});

Deno.test("overrides: malformed forms, bad indices and paths through scalars", () => {
  const { plain, messages } = apply([
    "train.batch",
    "=1",
    "losses[2].weight=1",
    "train.batch.x=1",
    "losses.x=1",
    "train.batch=[1,",
  ]);
  assert.deepEqual(plain, { train: { batch: 32 }, losses: [{ weight: 1 }, { weight: 2 }] });
  assert.deepEqual(messages, [
    ': malformed override "train.batch"',
    ': malformed override "=1"',
    "losses[2]: index 2 is out of range",
    'train.batch.x: cannot set key "x": train.batch is the value 32',
    'losses.x: cannot set key "x": losses is a list of 2',
    'train.batch: the value "[1," is not valid YAML (YAML syntax error: Flow sequence must end with a ])',
  ]);
});

Deno.test("overrides: a var the recipe lacks, or a key inside a node it lacks, is named", () => {
  const base = "vars: { lambda: 0.05, dim: 64 }\nnodes:\n  image: { kind: vit }\n";
  const messages = (sets: string[]) =>
    applyOverrides(parseYaml(base, "b.yaml").tree, sets).issues.map((i) =>
      `${i.keyPath}: ${i.message} | ${i.choices?.join(",")}`
    );
  assert.deepEqual(messages(["vars.lamda=0.1", "nodes.imag.depth=1"]), [
    'vars.lamda: unknown var "lamda" (did you mean "lambda"?): setting it would change nothing | lambda,dim',
    'nodes.imag: unknown node "imag" (did you mean "image"?) (to add a node, set it whole: ' +
    '"nodes.imag={ kind: …, input: … }") | image',
  ]);
  // A var another override reads is set.
  assert.deepEqual(messages(["vars.n=3", "train.steps=${n}"]), []);
  // Declared vars, keys of existing nodes and whole new nodes are fine.
  assert.deepEqual(messages(["vars.dim=8", "nodes.image.depth=1", "nodes.z={ kind: l2norm }"]), []);
});

Deno.test("overrides: a list or map set whole is located at the override, not the file's key", () => {
  const base = "nodes:\n  views: { scale: [0.5, 1], crop: { a: 1 } }\n";
  const sets = ["nodes.views.scale=[1, 0.5]", "nodes.views.crop={ a: 2 }"];
  const { values } = indexLocations(applyOverrides(parseYaml(base, "b.yaml").tree, sets).tree);
  assert.equal(values.get("nodes.views.scale")?.file, "--set nodes.views.scale=[1, 0.5]");
  assert.equal(values.get("nodes.views.crop")?.file, "--set nodes.views.crop={ a: 2 }");
  assert.equal(values.get("nodes.views")?.file, "b.yaml");
});
