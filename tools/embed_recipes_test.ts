/**
 * The committed `recipes/embedded.ts` matches what the recipe files generate,
 * holds every recipe and base, and round-trips the texts byte for byte.
 */
import assert from "node:assert/strict";
import { RECIPE_FILES } from "../recipes/embedded.ts";
import {
  EMBEDDED_PATH,
  listRecipeFiles,
  REGENERATE_EMBEDDED,
  renderEmbeddedRecipes,
} from "./embed_recipes.ts";

Deno.test("embedded recipes: recipes/embedded.ts is up to date", async () => {
  const committed = await Deno.readTextFile(EMBEDDED_PATH).catch(() => "");
  assert.ok(
    committed === renderEmbeddedRecipes(),
    `${EMBEDDED_PATH} is stale: run \`${REGENERATE_EMBEDDED}\` after changing a recipe`,
  );
});

Deno.test("embedded recipes: every recipe and base, texts identical to the files", async () => {
  const files = listRecipeFiles();
  assert.ok(files.includes("nova.yaml") && files.includes("base/mnist.yaml"), files.join(", "));
  assert.ok(!files.some((f) => f.startsWith("sweeps/")), "sweep specs are not recipes");
  assert.deepEqual(Object.keys(RECIPE_FILES), files);
  for (const file of files) {
    assert.equal(RECIPE_FILES[file], await Deno.readTextFile(`recipes/${file}`), file);
  }
});

Deno.test("embedded recipes: backticks, backslashes and ${…} survive the template literal", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const tricky = "a: `x` \\\\ ${v} \\${w}\nb: '`'\n";
    Deno.writeTextFileSync(`${dir}/t.yaml`, tricky);
    const source = renderEmbeddedRecipes(dir);
    const start = source.indexOf("`", source.indexOf('"t.yaml":'));
    const literal = source.slice(start, source.lastIndexOf("`,\n};") + 1);
    assert.equal(new Function(`return ${literal};`)(), tricky);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
