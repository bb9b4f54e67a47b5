import assert from "node:assert/strict";
import {
  formatKeyPath,
  indexLocations,
  lookupLocation,
  mergeTrees,
  parseKeyPath,
  relocate,
  toPlain,
} from "./tree.ts";
import { parseYaml } from "./yaml_source.ts";

Deno.test("key paths: format and parse round-trip", () => {
  const cases: [string, (string | number)[]][] = [
    ["losses[0].weight", ["losses", 0, "weight"]],
    ["nodes.pred.layers[2]", ["nodes", "pred", "layers", 2]],
    ["train", ["train"]],
    ['vars["a b"]', ["vars", "a b"]],
  ];
  for (const [text, segments] of cases) {
    assert.deepEqual(parseKeyPath(text), segments);
    assert.equal(formatKeyPath(segments), text);
  }
  for (const bad of ["", ".a", "a.", "a..b", "a[x]", "a[1", "1a", "a b"]) {
    assert.equal(parseKeyPath(bad), undefined, bad);
  }
});

Deno.test("mergeTrees: maps merge deeply, lists and scalars replace, locations follow", () => {
  const base = parseYaml("a: { x: 1, y: [1, 2] }\nb: 1\n", "base.yaml").tree;
  const top = parseYaml("a: { y: [3], z: 2 }\nc: 3\n", "top.yaml").tree;
  const merged = mergeTrees(base, top);
  assert.deepEqual(toPlain(merged), { a: { x: 1, y: [3], z: 2 }, b: 1, c: 3 });
  const { values, keys } = indexLocations(merged);
  assert.deepEqual(values.get("a.x"), { file: "base.yaml", line: 1, column: 9 });
  assert.deepEqual(values.get("a.y[0]"), { file: "top.yaml", line: 1, column: 10 });
  assert.equal(values.get("a.y[1]"), undefined);
  assert.deepEqual(values.get("b"), { file: "base.yaml", line: 2, column: 4 });
  assert.deepEqual(keys.get("a"), { file: "top.yaml", line: 1, column: 1 });
  assert.deepEqual(lookupLocation(values, ["a", "missing", 3]), keys.get("a"));
});

Deno.test("mergeTrees: a map naming another kind replaces the base map whole", () => {
  const base = parseYaml(
    "data: { kind: mimic_cxr, root: /m, reports: /r, size: 224 }\n" +
      "nodes: { image: { kind: vit, preset: s } }\n",
    "train.yaml",
  ).tree;
  const top = parseYaml(
    "data: { kind: chexpert, csv: { test: /c.csv } }\nnodes: { image: { kind: vit, depth: 2 } }\n",
    "eval.yaml",
  ).tree;
  assert.deepEqual(toPlain(mergeTrees(base, top)), {
    data: { kind: "chexpert", csv: { test: "/c.csv" } }, // MIMIC's keys are gone
    nodes: { image: { kind: "vit", preset: "s", depth: 2 } }, // same kind: merged
  });
  const interpolated = parseYaml('data: { kind: "${src}", size: 64 }\n', "v.yaml").tree;
  assert.equal(
    (toPlain(mergeTrees(base, interpolated)) as { data: { root: string } }).data.root,
    "/m",
  );
  const noKind = parseYaml("data: { size: 128 }\n", "size.yaml").tree;
  assert.deepEqual((toPlain(mergeTrees(base, noKind)) as { data: unknown }).data, {
    kind: "mimic_cxr",
    root: "/m",
    reports: "/r",
    size: 128,
  });
});

Deno.test("relocate moves every value and key; toPlain keeps __proto__ as data", () => {
  const tree = parseYaml('m: { k: [1, { j: 2 }] }\n"__proto__": 1\n', "f.yaml").tree;
  const loc = { file: "--set x", line: 0, column: 1 };
  const moved = indexLocations(relocate(tree, loc));
  for (const l of [...moved.values.values(), ...moved.keys.values()]) assert.deepEqual(l, loc);
  const plain = toPlain(tree) as Record<string, unknown>;
  assert.ok(Object.hasOwn(plain, "__proto__"));
  assert.equal(Object.getPrototypeOf(plain), Object.prototype);
});
