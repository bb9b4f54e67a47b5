import assert from "node:assert/strict";
import { indexLocations, toPlain } from "./tree.ts";
import { findReferences, parseYaml, protectReferences, restoreReferences } from "./yaml_source.ts";

Deno.test("references are protected with same-length placeholders and restored", () => {
  const text = 'layers: [512, ${dim}]\nw: "1 - ${lambda}"\n';
  const protectedText = protectReferences(text);
  assert.equal(protectedText.length, text.length);
  assert.equal(protectedText.split("\n")[0].indexOf("$"), text.split("\n")[0].indexOf("$"));
  assert.equal(restoreReferences(protectedText), text);
  const refs = findReferences(protectReferences("a ${x} b ${ y }"));
  assert.deepEqual(refs.map((r) => [r.name, r.index, r.length]), [["x", 2, 4], [" y ", 9, 6]]);
});

Deno.test("parseYaml: ${var} inside flow sequences parses, columns are exact", () => {
  const text = "nodes:\n  pred: { kind: mlp, layers: [512, ${dim}] }\n";
  const { tree, issues } = parseYaml(text, "r.yaml");
  assert.deepEqual(issues, []);
  const plain = toPlain(tree) as { nodes: { pred: { layers: unknown[] } } };
  assert.equal(plain.nodes.pred.layers[0], 512);
  assert.equal(restoreReferences(plain.nodes.pred.layers[1] as string), "${dim}");
  const loc = indexLocations(tree).values.get("nodes.pred.layers[1]");
  assert.deepEqual(loc, { file: "r.yaml", line: 2, column: text.split("\n")[1].indexOf("$") + 1 });
});

Deno.test("parseYaml: syntax errors and duplicate keys are located", () => {
  const syntax = parseYaml("a: [1, 2\nb: 3\n", "s.yaml").issues;
  assert.equal(syntax.length, 1);
  assert.equal(syntax[0].location.file, "s.yaml");
  assert.match(syntax[0].message, /^YAML syntax error: /);
  assert.ok(syntax[0].detail && syntax[0].detail.length >= 2);
  const dup = parseYaml("a:\n  b: 1\n  b: 2\n", "d.yaml").issues;
  assert.equal(dup.length, 1);
  assert.deepEqual(dup[0].location, { file: "d.yaml", line: 3, column: 3 });
  assert.equal(dup[0].keyPath, "a.b");
  assert.equal(dup[0].message, 'duplicate key "b" (first defined at line 2)');
});

Deno.test("parseYaml: empty documents are empty maps; aliases resolve", () => {
  assert.deepEqual(toPlain(parseYaml("# only a comment\n", "e.yaml").tree), {});
  const { tree } = parseYaml("a: &w [1, 2]\nb: *w\n", "a.yaml");
  assert.deepEqual(toPlain(tree), { a: [1, 2], b: [1, 2] });
});
