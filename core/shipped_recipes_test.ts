/**
 * Shipped recipes load from the embedded texts exactly as from their files,
 * with `extends` resolved inside the embedded set and clear errors otherwise.
 */
import assert from "node:assert/strict";
import { RecipeError } from "./recipe/mod.ts";
import { loadRunnable } from "./recipe_runnable.ts";
import { loadShippedRecipe, shippedRecipeNames, shippedRecipeText } from "./shipped_recipes.ts";

Deno.test("shipped recipes: every recipes/*.yaml is listed, with the file's text", async () => {
  const files = [...Deno.readDirSync("recipes")]
    .filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => e.name.replace(/\.yaml$/, ""))
    .sort();
  assert.deepEqual(shippedRecipeNames(), files);
  for (const name of files) {
    assert.equal(shippedRecipeText(name), await Deno.readTextFile(`recipes/${name}.yaml`), name);
  }
  assert.equal(
    shippedRecipeText("base/mnist.yaml"),
    await Deno.readTextFile("recipes/base/mnist.yaml"),
  );
});

Deno.test("shipped recipes: loading from text resolves like loading the file", async () => {
  const overrides = ["train.steps=3", "vars.lambda=0.1"];
  for (const name of ["nova", "recipes/clip.yaml", "xclip.yaml"]) {
    const file = `recipes/${name.replace(/^recipes\//, "").replace(/\.yaml$/, "")}.yaml`;
    const shipped = loadShippedRecipe(name, name === "nova" ? overrides : []);
    const fromFile = await loadRunnable(file, name === "nova" ? overrides : []);
    assert.equal(shipped.yaml, fromFile.yaml, `${name}: resolved recipes differ`);
    assert.deepEqual(shipped.graph.nodes, fromFile.graph.nodes);
  }
  assert.equal(loadShippedRecipe("nova", ["train.steps=3"]).train.steps, 3);
});

Deno.test("shipped recipes: unknown names and bad overrides fail clearly", () => {
  assert.throws(
    () => loadShippedRecipe("nvoa"),
    (e: Error) => /no shipped recipe "nvoa"; expected one of: .*\bnova\b/.test(e.message),
  );
  assert.throws(
    () => loadShippedRecipe("nova", ["train.steps=0"]),
    (e: unknown) => e instanceof RecipeError && /train\.steps/.test(e.message),
  );
});
