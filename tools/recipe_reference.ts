/**
 * Generates `docs/reference.md`, the recipe reference, from the live
 * registries and the recipe's structural schemas: every top-level key, every
 * `train` setting, the structural keys of node / loss / data / eval entries,
 * and for every registered kind its summary, its inputs (a module's `input:`,
 * a loss's roles) and a parameter table (type with choices and ranges,
 * default, description from the zod schema).
 *
 * ```sh
 * deno run --allow-read --allow-write=docs tools/recipe_reference.ts   # rewrite docs/reference.md
 * ```
 *
 * `tools/recipe_reference_test.ts` fails when the committed file is stale.
 *
 * @module
 */
import "../core/builtins.ts";
import { writeFileAtomic } from "../core/atomic.ts";
import { evaluators, losses, modules, sources } from "../core/components.ts";
import type { Registry, RegistryEntry } from "../core/registry.ts";
import { STRUCTURE_SCHEMAS } from "../core/recipe/schema.ts";
import { parseRoles } from "../core/recipe/components.ts";
import { cell, code, table, wrap } from "./markdown.ts";
import { type ParamRow, paramRows } from "./schema_rows.ts";

/** Where the reference is written, relative to the repository root. */
export const REFERENCE_PATH = "docs/reference.md";

/** The command that regenerates the reference (named in the file and in stale-file errors). */
export const REGENERATE = "deno task docs";

/** One registry section of the reference. */
interface Section {
  title: string;
  /** The recipe key its kinds are written under. */
  key: string;
  // deno-lint-ignore no-explicit-any
  registry: Registry<any>;
  /** The entry's inputs, as one Markdown line (or `undefined` for none). */
  inputs?: (entry: RegistryEntry<unknown>) => string;
}

const SECTIONS: Section[] = [
  {
    title: "Nodes",
    key: "nodes.<name>",
    registry: modules,
    inputs: (entry) => `**Input:** ${entry.input ?? "not documented"}`,
  },
  {
    title: "Losses",
    key: "losses[i]",
    registry: losses,
    inputs: (entry) => `**Inputs:** ${lossRoles(entry)}`,
  },
  { title: "Data sources", key: "data", registry: sources },
  { title: "Evaluators", key: "eval[i]", registry: evaluators },
];

/**
 * A loss's input roles as Markdown: the term is built with its default
 * parameters, and its declared roles are read back (`x[]` takes a list,
 * `logit_scale?` is optional).
 */
function lossRoles(entry: RegistryEntry<unknown>): string {
  const parsed = entry.schema.safeParse({});
  if (!parsed.success) {
    throw new Error(
      `loss "${entry.kind}": cannot list its input roles, because its parameters have no ` +
        `defaults to build it with; expected every parameter of a loss to have a default`,
    );
  }
  const create = entry.create as (params: unknown) => { roles: string[] };
  const roles = parseRoles(create(parsed.data).roles);
  return roles.map((role) => {
    const notes = [role.list ? "a list of references" : "", role.optional ? "optional" : ""]
      .filter(Boolean);
    return code(role.name) + (notes.length ? ` (${notes.join(", ")})` : "");
  }).join(", ");
}

/** A parameter table, or a sentence when there are no parameters. */
function paramTable(rows: ParamRow[], first = "parameter"): string {
  if (rows.length === 0) return "No parameters.";
  return table(
    [first, "type", "default", "description"],
    rows.map((row) => [
      code(row.name),
      cell(row.type),
      row.default === "required" || row.default === "—" ? row.default : code(row.default),
      cell(row.description),
    ]),
  );
}

/** Top-level keys: the structural schema's, plus `extends` (consumed while loading). */
function topLevel(): string {
  const rows: ParamRow[] = [
    {
      name: "extends",
      type: "string or list of string",
      default: "—",
      description: "Recipe files merged in order under this one (paths relative to this file).",
    },
    ...paramRows(STRUCTURE_SCHEMAS.recipe).filter((row) => !row.name.includes(".")),
  ];
  return paramTable(rows, "key");
}

/** The structural keys of each kind of entry. */
function entryKeys(): string[] {
  const parts: [string, keyof typeof STRUCTURE_SCHEMAS, string][] = [
    ["nodes.<name>", "node", "the module's parameters (see [Nodes](#nodes))"],
    ["losses[i]", "loss", "the term's parameters (see [Losses](#losses))"],
    ["data", "data", "the source's parameters (see [Data sources](#data-sources))"],
    ["eval[i]", "eval", "the evaluator's parameters (see [Evaluators](#evaluators))"],
  ];
  return parts.flatMap(([key, schema, rest]) => [
    `### ${code(key)}`,
    paramTable(paramRows(STRUCTURE_SCHEMAS[schema]), "key") + "\n\n" +
    wrap(`Every other key is one of ${rest}.`),
  ]);
}

/** One registry section: a heading per kind with summary, inputs and parameters. */
function section(s: Section): string[] {
  const entries = s.registry.entries();
  const out = [
    `## ${s.title}`,
    wrap(
      `Kinds of ${code(s.key)} (${entries.length}): ` +
        entries.map((e) => `[${code(e.kind)}](#${anchor(e.kind)})`).join(", ") + ".",
    ),
  ];
  for (const entry of entries) {
    out.push(`### ${code(entry.kind)}`);
    // Capitalise a plain lower-case first word ("frozen …"), not a name such as "nCLIP".
    const summary = entry.summary.replace(/^[a-z]+\b/, (w) => w[0]!.toUpperCase() + w.slice(1));
    const body = [wrap(summary.endsWith(".") ? summary : `${summary}.`)];
    if (s.inputs) body.push(wrap(s.inputs(entry)));
    body.push(paramTable(paramRows(entry.schema)));
    out.push(body.join("\n\n"));
  }
  return out;
}

/** The GitHub anchor of a heading that is one code span. */
function anchor(kind: string): string {
  return kind.toLowerCase().replace(/[^a-z0-9_ -]/g, "").replace(/ /g, "-");
}

/**
 * Renders the recipe reference as Markdown from the live registries (built-in
 * components registered) and the structural schemas, formatted as `deno fmt`
 * writes Markdown.
 */
export function renderRecipeReference(): string {
  const blocks = [
    "# Recipe reference",
    `<!-- Generated by tools/recipe_reference.ts from the registered schemas; do not edit. ` +
    `Regenerate with \`${REGENERATE}\`. -->`,
    wrap(
      "Every key a recipe may write, generated from the zod schemas the recipe is validated " +
        "against. The language itself (`extends`, `vars`, `--set`, references) is described in " +
        "[recipes.md](recipes.md). Numbers also accept arithmetic after `${var}` interpolation " +
        '(`"1 - ${lambda}"`, `"ln(1 / 0.07)"`). In the default column, `required` means the key ' +
        "must be written and `—` means it is optional without a default (the description says " +
        "what leaving it out does).",
    ),
    "## Top-level keys",
    topLevel(),
    `## ${code("train")}`,
    paramTable(paramRows(STRUCTURE_SCHEMAS.train, "train."), "key"),
    "## Entry keys",
    wrap(
      "Keys every entry of a section takes besides its kind's own parameters (which are listed " +
        "per kind below).",
    ),
    ...entryKeys(),
    ...SECTIONS.flatMap(section),
  ];
  return blocks.join("\n\n") + "\n";
}

if (import.meta.main) {
  await writeFileAtomic(REFERENCE_PATH, renderRecipeReference());
  console.log(`wrote ${REFERENCE_PATH}`);
}
