/**
 * Generates `recipes/embedded.ts`: every shipped recipe (`recipes/*.yaml`,
 * `recipes/base/*.yaml`; sweep specs are not recipes)
 * as a TypeScript string, so a package installed from JSR can load them
 * without reading files or the network (see `docs/jsr.md` for why this beats
 * text imports and `fetch`). The YAML files stay the source of truth.
 *
 * ```sh
 * deno run --allow-read --allow-write=recipes tools/embed_recipes.ts   # rewrite recipes/embedded.ts
 * ```
 *
 * `tools/embed_recipes_test.ts` fails when the committed module is stale.
 *
 * @module
 */
import { join, relative } from "node:path";
import { writeFileAtomic } from "../core/atomic.ts";
import { LINE_WIDTH } from "./markdown.ts";

/** The folder of shipped recipes, relative to the repository root. */
export const RECIPES_DIR = "recipes";

/** Where the generated module is written, relative to the repository root. */
export const EMBEDDED_PATH = "recipes/embedded.ts";

/** The command that regenerates the module (named in it and in stale-file errors). */
export const REGENERATE_EMBEDDED = "deno task embed-recipes";

/** Sub-folders that hold other YAML (sweep specs), not recipes: not embedded. */
const NOT_RECIPES = new Set(["sweeps"]);

/**
 * Paths of every recipe `.yaml` under `dir` (sweep specs under `sweeps/`
 * excluded), relative to it, with `/` separators, sorted.
 */
export function listRecipeFiles(dir: string = RECIPES_DIR): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of Deno.readDirSync(folder)) {
      const path = join(folder, entry.name);
      if (entry.isDirectory && !(folder === dir && NOT_RECIPES.has(entry.name))) walk(path);
      else if (entry.isFile && entry.name.endsWith(".yaml")) {
        found.push(relative(dir, path).split("\\").join("/"));
      }
    }
  };
  walk(dir);
  return found.sort();
}

/** `text` as a template literal (backslashes, backticks and `${` escaped). */
function templateLiteral(text: string): string {
  return "`" + text.replace(/\\/g, "\\\\").replace(/`/g, "\\`").replace(/\$\{/g, "\\${") + "`";
}

/**
 * The source of `recipes/embedded.ts` for the recipes under `dir`: one
 * exported record, path (relative to `recipes/`) → YAML text.
 */
export function renderEmbeddedRecipes(dir: string = RECIPES_DIR): string {
  const entries = listRecipeFiles(dir).map((path) => {
    const key = `  ${JSON.stringify(path)}:`;
    const value = templateLiteral(Deno.readTextFileSync(join(dir, path)));
    // As `deno fmt` writes it: the literal starts on the key's line when its first line fits.
    const fits = [...`${key} ${value.split("\n")[0]}`].length <= LINE_WIDTH;
    return `${key}${fits ? " " : "\n    "}${value},`;
  });
  return [
    "/**",
    " * The shipped recipes as text, keyed by their path under `recipes/`",
    " * (`base/mnist.yaml`, `nova.yaml`, …), so the package can load them where",
    " * there is no file system to read them from (an install from JSR). Generated",
    ` * by \`tools/embed_recipes.ts\` from the YAML files; do not edit: run`,
    ` * \`${REGENERATE_EMBEDDED}\`. Use them through \`core/shipped_recipes.ts\`.`,
    " *",
    " * @module",
    " */",
    "",
    "/** Path under `recipes/` → the recipe's YAML text. */",
    "export const RECIPE_FILES: Readonly<Record<string, string>> = {",
    ...entries,
    "};",
    "",
  ].join("\n");
}

if (import.meta.main) {
  await writeFileAtomic(EMBEDDED_PATH, renderEmbeddedRecipes());
  console.log(`wrote ${EMBEDDED_PATH}`);
}
