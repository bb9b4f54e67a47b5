import assert from "node:assert/strict";
import { interpolate } from "./interpolate.ts";
import { indexLocations, toPlain } from "./tree.ts";
import { parseYaml } from "./yaml_source.ts";

function run(text: string): { plain: unknown; messages: string[] } {
  const { tree, issues } = interpolate(parseYaml(text, "v.yaml").tree);
  return { plain: toPlain(tree), messages: issues.map((i) => `${i.keyPath}: ${i.message}`) };
}

Deno.test("interpolate: a lone reference keeps the var's type", () => {
  const { plain, messages } = run(
    "vars: { n: 4, l: [1, 2], m: { a: true }, s: x }\nv: [${n}, ${l}, ${m}, ${s}]\n",
  );
  assert.deepEqual(messages, []);
  assert.deepEqual((plain as { v: unknown }).v, [4, [1, 2], { a: true }, "x"]);
});

Deno.test("interpolate: text around references gives a string; vars may use vars", () => {
  const { plain, messages } = run(
    'vars: { lambda: 0.05, a: "${lambda}", b: "2 * ${a}" }\nw: "1 - ${lambda}"\nx: ${b}\n',
  );
  assert.deepEqual(messages, []);
  assert.deepEqual(plain, {
    vars: { lambda: 0.05, a: 0.05, b: "2 * 0.05" },
    w: "1 - 0.05",
    x: "2 * 0.05",
  });
});

Deno.test("interpolate: substituted values are located where the reference was written", () => {
  const { tree } = interpolate(parseYaml("vars:\n  l: [1, 2]\nuse: ${l}\n", "v.yaml").tree);
  const values = indexLocations(tree).values;
  assert.deepEqual(values.get("use[1]"), { file: "v.yaml", line: 3, column: 6 });
});

Deno.test("interpolate: unknown vars, cycles, lists in text, unterminated references", () => {
  const { messages } = run(
    'vars: { a: "${b}", b: "${a}", l: [1] }\nx: ${nope}\ny: "n=${l}"\nz: "${oops"\n',
  );
  assert.deepEqual(messages.sort(), [
    "vars.a: vars cycle: b → a → b",
    'x: unknown var "nope"',
    'y: var "l" is a list and cannot be embedded in the text "n=${l}"',
    'z: unterminated or nested reference in "${oops"',
  ]);
});
