/**
 * The committed recipe reference matches what the registries generate, names
 * every registered kind, and lists the parameters of a few kinds with their
 * defaults; every parameter and every module input is documented.
 */
import assert from "node:assert/strict";
import "../core/builtins.ts";
import { evaluators, losses, modules, sources } from "../core/components.ts";
import { STRUCTURE_SCHEMAS } from "../core/recipe/schema.ts";
import { REFERENCE_PATH, REGENERATE, renderRecipeReference } from "./recipe_reference.ts";
import { paramRows } from "./schema_rows.ts";

const rendered = renderRecipeReference();

Deno.test("recipe reference: docs/reference.md is up to date", async () => {
  const committed = await Deno.readTextFile(REFERENCE_PATH).catch(() => "");
  if (committed !== rendered) {
    const a = committed.split("\n"), b = rendered.split("\n");
    const line = a.findIndex((text, i) => text !== b[i]);
    assert.fail(
      `${REFERENCE_PATH} is stale: run \`${REGENERATE}\` ` +
        `(first difference at line ${(line < 0 ? a.length : line) + 1}: ` +
        `committed ${JSON.stringify(a[line] ?? "(end of file)")}, ` +
        `generated ${JSON.stringify(b[line] ?? "(end of file)")})`,
    );
  }
});

Deno.test("recipe reference: every registered kind has a section", () => {
  for (const registry of [modules, losses, sources, evaluators]) {
    assert.ok(registry.kinds().length > 0, `no ${registry.what} kinds registered`);
    for (const kind of registry.kinds()) {
      assert.ok(rendered.includes(`\n### \`${kind}\`\n`), `${registry.what} "${kind}" is missing`);
    }
  }
});

/** The table row of parameter `name` in the section of `kind`. */
function row(kind: string, name: string): string {
  const start = rendered.indexOf(`\n### \`${kind}\`\n`);
  assert.ok(start >= 0, `no section for "${kind}"`);
  const end = rendered.indexOf("\n### ", start + 1);
  const section = rendered.slice(start, end < 0 ? undefined : end);
  const line = section.split("\n").find((l) => l.startsWith(`| \`${name}\` `));
  assert.ok(line, `"${kind}" has no row for parameter "${name}"`);
  return line.split("|").map((c) => c.trim()).slice(1, -1).join(" | ");
}

Deno.test("recipe reference: parameters appear with type, default and description", () => {
  assert.match(
    row("vit", "preset"),
    /^`preset` \| one of `tiny`, `ti`, `s`, `b` \| `tiny` \| Size/,
  );
  assert.match(row("vit", "output"), /\| `cls` \|/);
  assert.match(row("vit", "patch"), /^`patch` \| integer > 0 \| — \|/);
  assert.match(row("sigreg", "slices"), /^`slices` \| integer > 0 \| `1024` \|/);
  assert.match(row("sigreg", "quadrature"), /one of `code`, `paper` \| `code` \|/);
  assert.match(row("sigreg", "pooled"), /boolean \| `false` \|/);
  assert.match(row("views", "jitter.hue"), /number in \[0, 0\.5\] \| `0\.1` \|/);
  assert.match(row("zero_shot", "image"), /string \| required \|/);
  assert.match(row("mnist", "val"), /number in \[0, 1\) \| `0` \|/);
  assert.ok(rendered.includes("| `train.steps`"), "train.steps is missing");
  assert.match(rendered, /\| `train\.log_every` +\| integer > 0 +\| `10` +\|/);
  assert.match(rendered, /\| `seed` +\| integer ≥ 0 +\| `0` +\|/);
});

Deno.test("recipe reference: loss roles and module inputs are listed", () => {
  assert.ok(rendered.includes("**Inputs:** `x` (a list of references)"), "sigreg's x[] role");
  assert.ok(rendered.includes("**Inputs:** `image`, `text`, `logit_scale` (optional)"), "clip");
  for (const entry of modules.entries()) {
    assert.ok(entry.input, `module "${entry.kind}" has no \`input\` documentation in its entry`);
  }
});

Deno.test("recipe reference: every parameter has a description", () => {
  const missing: string[] = [];
  for (const registry of [modules, losses, sources, evaluators]) {
    for (const entry of registry.entries()) {
      for (const r of paramRows(entry.schema)) {
        if (!r.description) missing.push(`${registry.what} "${entry.kind}": ${r.name}`);
      }
    }
  }
  for (const [part, schema] of Object.entries(STRUCTURE_SCHEMAS)) {
    for (const r of paramRows(schema)) if (!r.description) missing.push(`${part}: ${r.name}`);
  }
  assert.deepEqual(missing, [], `add .describe("…") at these schema keys: ${missing.join("; ")}`);
});
