/**
 * Golden tests of recipe errors: each malformed recipe under
 * `tests/fixtures/recipes/malformed/` (plus `--set` cases on a valid one)
 * must fail with exactly the text in its `.expected` file. Regenerate with
 * `UPDATE_GOLDENS=1 deno test -A tests/recipes_malformed_test.ts` and review
 * the diff.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadRecipeFromText, RecipeError } from "../core/recipe/mod.ts";
import { fakeRegistries } from "./fixtures/recipes/fake_registries.ts";

const ROOT = fileURLToPath(new URL("./fixtures/recipes/", import.meta.url));
const readFile = (path: string): string => Deno.readTextFileSync(join(ROOT, path));

interface Case {
  /** Golden name: `malformed/<name>.expected`. */
  name: string;
  /** Recipe path relative to the fixtures root (default `malformed/<name>.yaml`). */
  file?: string;
  /** `--set` overrides. */
  overrides?: string[];
}

const CASES: Case[] = [
  { name: "syntax_error" },
  { name: "unknown_top_level_key" },
  { name: "unknown_node_kind" },
  { name: "unknown_loss_kind" },
  { name: "missing_node_ref" },
  { name: "bad_type" },
  { name: "unknown_node_param" },
  { name: "negative_lr" },
  { name: "unknown_var" },
  { name: "extends_missing" },
  { name: "extends_cycle" },
  { name: "extends_broken" },
  { name: "wrong_loss_role" },
  { name: "bad_enum" },
  { name: "duplicate_key" },
  { name: "several_errors" },
  { name: "var_cycle" },
  { name: "missing_required" },
  { name: "string_role_list" },
  { name: "list_var_in_text" },
  { name: "eval_bad_node" },
  { name: "set_malformed", file: "malformed/ok_data.yaml", overrides: ["train.batch"] },
  {
    name: "set_unknown_key",
    file: "malformed/ok_data.yaml",
    overrides: ["train.batch=64", "train.batchsize=64"],
  },
  { name: "set_bad_index", file: "malformed/ok_data.yaml", overrides: ["losses[2].weight=0.5"] },
  { name: "set_bad_value", file: "malformed/ok_data.yaml", overrides: ["train.steps=[1,"] },
  { name: "set_bad_ref", file: "malformed/ok_data.yaml", overrides: ["nodes.text.input=txt"] },
  { name: "set_unknown_var", file: "malformed/ok_data.yaml", overrides: ["vars.lamda=0.1"] },
  {
    name: "set_unknown_node",
    file: "malformed/ok_data.yaml",
    overrides: ["nodes.imag.depth=1", "nodes.extra={ kind: l2norm, input: image }"],
  },
];

function errorText(c: Case): string {
  const file = c.file ?? `malformed/${c.name}.yaml`;
  try {
    loadRecipeFromText(readFile(file), {
      file,
      readFile,
      overrides: c.overrides ?? [],
      registries: fakeRegistries(),
    });
  } catch (e) {
    assert.ok(e instanceof RecipeError, `${c.name}: expected a RecipeError, got ${e}`);
    return e.message + "\n";
  }
  throw new Error(`${c.name}: the recipe loaded without error`);
}

for (const c of CASES) {
  Deno.test(`malformed recipe: ${c.name}`, () => {
    const golden = join(ROOT, "malformed", `${c.name}.expected`);
    const actual = errorText(c);
    if (Deno.env.get("UPDATE_GOLDENS") === "1") Deno.writeTextFileSync(golden, actual);
    assert.equal(actual, Deno.readTextFileSync(golden));
  });
}

Deno.test("malformed recipes: every fixture has a case and every case a golden", () => {
  const names = new Set(CASES.map((c) => c.file ?? `malformed/${c.name}.yaml`));
  for (const entry of Deno.readDirSync(join(ROOT, "malformed"))) {
    if (entry.isFile && entry.name.endsWith(".yaml")) {
      assert.ok(names.has(`malformed/${entry.name}`), `no case for malformed/${entry.name}`);
    }
  }
  assert.ok(CASES.length >= 16);
});

Deno.test("malformed recipes: the error's location and key path are the first issue's", () => {
  try {
    loadRecipeFromText(readFile("malformed/unknown_loss_kind.yaml"), {
      file: "malformed/unknown_loss_kind.yaml",
      readFile,
      registries: fakeRegistries(),
    });
    assert.fail("expected a RecipeError");
  } catch (e) {
    assert.ok(e instanceof RecipeError);
    assert.deepEqual(e.location, { file: "malformed/unknown_loss_kind.yaml", line: 6, column: 13 });
    assert.equal(e.keyPath, "losses[0].kind");
    assert.equal(e.issues.length, 1);
    assert.deepEqual(e.issues[0].choices, ["clip", "prediction", "sigreg"]);
  }
});
