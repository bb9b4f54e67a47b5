/**
 * Keys the recipe language reserves on an entry (`kind`, `input`, `phase`,
 * `init_from`, `freeze`, `lr_scale` on nodes; `name`, `data` on evaluators…)
 * must never also be a component's parameter: the framework would take the
 * value and the component silently fall back to its default. And every shipped
 * recipe's resolved form (what a run directory keeps as `recipe.yaml`, what
 * `--resume` and `deno task eval` reload) loads back to the same recipe.
 */
import assert from "node:assert/strict";
import "../builtins.ts";
import { evaluators, losses, modules, sources } from "../components.ts";
import type { Registry } from "../registry.ts";
import { loadRunnable, loadRunnableFromText } from "../recipe_runnable.ts";
import { STRUCTURAL_KEYS } from "./schema.ts";
import { objectKeysAt } from "./zod_issues.ts";

Deno.test("structural keys: no registered component takes one of its entry's reserved keys", () => {
  const sections: [string, Registry<unknown>][] = [
    ["nodes", modules],
    ["losses", losses],
    ["data", sources],
    ["eval", evaluators],
  ];
  const clashes: string[] = [];
  for (const [section, registry] of sections) {
    for (const kind of registry.kinds()) {
      const keys = objectKeysAt(registry.get(kind).schema, []) ?? [];
      for (const key of keys.filter((k) => STRUCTURAL_KEYS[section]!.includes(k))) {
        clashes.push(`${section} ${kind}: ${key}`);
      }
    }
  }
  assert.deepEqual(clashes, []);
});

Deno.test("structural keys: every shipped recipe's resolved YAML loads back to the same recipe", async () => {
  const files = [...Deno.readDirSync("recipes")]
    .filter((e) => e.isFile && e.name.endsWith(".yaml")).map((e) => `recipes/${e.name}`);
  assert.ok(files.length >= 15, `${files.length} recipes`);
  for (const file of files.sort()) {
    const recipe = await loadRunnable(file);
    const again = loadRunnableFromText(recipe.yaml, { file: `${file} (resolved)` });
    assert.deepEqual(again.graph.nodes, recipe.graph.nodes, file);
    assert.deepEqual(again.graph.losses, recipe.graph.losses, file);
    assert.deepEqual(again.eval, recipe.eval, file);
    assert.deepEqual(again.data, recipe.data, file);
    assert.equal(
      again.yaml.split("\n").slice(1).join("\n"),
      recipe.yaml.split("\n").slice(1).join("\n"),
      file,
    );
  }
});
