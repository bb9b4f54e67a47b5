import assert from "node:assert/strict";
import { RecipeError } from "../core/recipe/errors.ts";
import { expandSweep } from "./expand.ts";
import { loadSweep, parseSweep } from "./spec.ts";
import { validateSweep } from "./validate.ts";

// A file name under recipes/sweeps/ so `../clip.yaml` resolves to a shipped recipe.
const FILE = "recipes/sweeps/inline.yaml";

function errorOf(text: string): RecipeError {
  try {
    parseSweep(text, FILE);
  } catch (e) {
    if (e instanceof RecipeError) return e;
    throw e;
  }
  throw new Error("expected a RecipeError");
}

const GOOD = `name: inline
recipes:
  clip: ../clip.yaml
  ito: ../ito.yaml
set: ["train.steps=3"]
grid:
  vars.dim: [8, 16]
toggles:
  no_fusion:
    description: ITO without fusion
    recipes: [ito]
    set: ["losses[1].weight=0"]
seeds: [0, 1]
metrics:
  - { label: top-1, key: zero_shot.top1 }
  - { label: top-5, key: zero_shot.top5, better: lower }
`;

Deno.test("spec: a valid sweep file loads with recipe paths resolved against its folder", () => {
  const spec = parseSweep(GOOD, FILE);
  assert.equal(spec.name, "inline");
  assert.deepEqual(spec.recipes, [
    { label: "clip", file: "recipes/clip.yaml" },
    { label: "ito", file: "recipes/ito.yaml" },
  ]);
  assert.deepEqual(spec.grid, [{ key: "vars.dim", values: [8, 16] }]);
  assert.deepEqual(spec.toggles, [{
    name: "no_fusion",
    description: "ITO without fusion",
    recipes: ["ito"],
    set: ["losses[1].weight=0"],
  }]);
  assert.deepEqual(spec.metrics.map((m) => m.better), ["higher", "lower"]);
  assert.deepEqual(spec.locate("toggles.no_fusion.set[0]"), { file: FILE, line: 12, column: 11 });
  // clip: 2 grid values × 2 seeds; ito: 2 grid values × [baseline, no_fusion] × 2 seeds.
  assert.equal(expandSweep(spec).length, 2 * 2 + 2 * 2 * 2);
});

Deno.test("spec: unknown keys and bad values name file:line:col, key path, expected and choices", () => {
  const e = errorOf(
    GOOD.replace("seeds: [0, 1]", "seedz: [0, 1]").replace(
      "better: lower",
      "better: lowest",
    ),
  );
  assert.match(
    e.message,
    /inline\.yaml:13:1: seedz: unknown key "seedz" for a sweep file \(did you mean "seeds"\?\)\n {2}expected one of: grid, metrics, name, recipes, seeds, set, toggles/,
  );
  assert.match(
    e.message,
    /inline\.yaml:16:50: metrics\[1\]\.better: invalid value "lowest".*\n {2}expected one of: higher, lower/,
  );
});

Deno.test("spec: a missing recipe file is an error with a spelling suggestion", () => {
  const e = errorOf(GOOD.replace("../clip.yaml", "../clipp.yaml"));
  assert.match(
    e.message,
    /inline\.yaml:3:9: recipes\.clip: recipe file not found: "\.\.\/clipp\.yaml" \(resolved to recipes\/clipp\.yaml\) \(did you mean "\.\.\/clip\.yaml"\?\)/,
  );
  assert.match(
    e.message,
    /expected a recipe path relative to the sweep file's folder recipes\/sweeps\//,
  );
});

Deno.test("spec: malformed set strings, grid keys and unknown toggle recipes are located", () => {
  const e = errorOf(
    GOOD.replace('set: ["train.steps=3"]', 'set: ["train.steps"]')
      .replace("vars.dim:", "vars..dim:")
      .replace("recipes: [ito]", "recipes: [itto]"),
  );
  assert.match(
    e.message,
    /inline\.yaml:5:7: set\[0\]: "train\.steps": malformed override "train\.steps"\n {2}expected key\.path=value/,
  );
  assert.match(
    e.message,
    /inline\.yaml:7:3: grid\["vars\.\.dim"\]: malformed key path "vars\.\.dim"/,
  );
  assert.match(
    e.message,
    /inline\.yaml:11:15: toggles\.no_fusion\.recipes\[0\]: unknown recipe label "itto" \(did you mean "ito"\?\)\n {2}expected a label defined under recipes:, one of: clip, ito/,
  );
});

Deno.test("spec: duplicate seeds, labels with id separators and missing metrics are errors", () => {
  const e = errorOf(
    GOOD.replace("seeds: [0, 1]", "seeds: [0, 0]").replace(
      "  ito: ../ito.yaml",
      "  it+o: ../ito.yaml",
    )
      .replace(/metrics:[\s\S]*$/, ""),
  );
  assert.match(e.message, /recipes\["it\+o"\]: invalid key "it\+o"\n {2}expected a recipe label/);
  assert.match(e.message, /metrics: missing required key "metrics"/);
});

Deno.test("spec: grid values that collide once sanitised are an error", () => {
  const e = errorOf(GOOD.replace("vars.dim: [8, 16]", 'vars.tag: ["a/b", "a:b"]'));
  assert.match(e.message, /member id "clip,tag=a_b-s0" would be used twice/);
});

Deno.test("spec: a missing sweep file is a RecipeError naming it", async () => {
  await assert.rejects(() => loadSweep("recipes/sweeps/none.yaml"), (e: Error) => {
    assert.ok(e instanceof RecipeError);
    assert.match(e.message, /recipes\/sweeps\/none\.yaml: cannot read sweep file: file not found/);
    return true;
  });
});

Deno.test("spec: the shipped sweeps load and expand to the documented member counts", async () => {
  const methods = expandSweep(await loadSweep("recipes/sweeps/methods_tiny.yaml"));
  assert.equal(methods.length, 27);
  assert.ok(methods.some((m) => m.id === "ito+no_fusion-s2"));
  const lambda = expandSweep(await loadSweep("recipes/sweeps/nova_lambda.yaml"));
  assert.equal(lambda.length, 15);
  assert.equal(lambda[4]!.id, "nova,lambda=0.01-s1");
});

Deno.test("validate: a member recipe problem points at the sweep line that caused it", async () => {
  const spec = parseSweep(
    GOOD.replace('set: ["train.steps=3"]', 'set: ["train.stepz=3"]')
      .replace("vars.dim: [8, 16]", "train.batch: [8, -16]"),
    FILE,
  );
  await assert.rejects(() => validateSweep(spec, expandSweep(spec)), (e: Error) => {
    assert.ok(e instanceof RecipeError);
    // Reported once for all 12 members, at the set entry, with the recipe's own message.
    assert.match(
      e.message,
      /inline\.yaml:5:7: set\[0\]: "train\.stepz=3": train\.stepz: unknown key "stepz".*\(members clip,batch=8-s0, clip,batch=8-s1, clip,batch=-16-s0 and 9 more\)/,
    );
    assert.match(
      e.message,
      /inline\.yaml:7:20: grid\["train\.batch"\]\[1\]: "train\.batch=-16": train\.batch: invalid value -16 \(members clip,batch=-16-s0, clip,batch=-16-s1, ito,batch=-16-s0 and 3 more\)\n {2}expected/,
    );
    return true;
  });
});

Deno.test("validate: every member of a valid sweep resolves, with its own overrides", async () => {
  const spec = parseSweep(GOOD, FILE);
  const recipes = await validateSweep(spec, expandSweep(spec));
  assert.equal(recipes.size, 12);
  const ito = recipes.get("ito+no_fusion,dim=16-s1")!;
  assert.equal(ito.seed, 1);
  assert.equal(ito.train.steps, 3);
  assert.equal(ito.graph.losses[1]!.weight, 0);
  assert.equal(recipes.get("ito,dim=16-s1")!.graph.losses[1]!.weight, 2);
});

Deno.test("validate: a metric key no member's evaluators produce is located, with the names", async () => {
  const spec = parseSweep(GOOD.replace("key: zero_shot.top5", "key: zeroshot.top5"), FILE);
  await assert.rejects(
    () => validateSweep(spec, expandSweep(spec)),
    (e: Error) => {
      assert.ok(e instanceof RecipeError);
      assert.match(
        e.message,
        /inline\.yaml:16:26: metrics\[1\]\.key: no member runs an evaluator named "zeroshot" \(did you mean "zero_shot"\?\) \(key "zeroshot\.top5"\)\n {2}expected <evaluator name>\.<metric>, the evaluator one of: zero_shot/,
      );
      return true;
    },
  );
});

Deno.test("validate: a var only some recipes declare is set where declared, skipped elsewhere", async () => {
  const spec = parseSweep(GOOD.replace("vars.dim: [8, 16]", "vars.lambda: [1, 3]"), FILE);
  const recipes = await validateSweep(spec, expandSweep(spec));
  // ITO declares λ (its fusion loss weight); CLIP does not, and keeps its recipe as written.
  assert.equal(recipes.get("ito,lambda=3-s0")!.graph.losses[1]!.weight, 3);
  assert.equal(recipes.get("clip,lambda=3-s0")!.graph.losses.length, 1);
});
