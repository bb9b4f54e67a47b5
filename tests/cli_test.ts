/** The command line: validate prints the resolved recipe; graph prints Mermaid; errors are clear. */
import assert from "node:assert/strict";
import { buildProgram } from "../cli.ts";

async function capture(args: string[]): Promise<string> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    await buildProgram().parseAsync(args, { from: "user" });
  } finally {
    console.log = original;
  }
  return lines.join("\n");
}

Deno.test("cli: validate prints the resolved recipe with vars substituted and --set applied", async () => {
  const out = await capture([
    "validate",
    "recipes/nova.yaml",
    "--set",
    "vars.lambda=0.1",
    "--set",
    "train.steps=7",
  ]);
  assert.match(out, /^name: nova$/m);
  assert.match(out, /weight: 0\.9$/m);
  assert.match(out, /weight: 0\.1$/m);
  assert.match(out, /steps: 7$/m);
});

Deno.test({
  name: "cli: graph prints a Mermaid flowchart with shapes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const out = await capture([
      "graph",
      "recipes/nova.yaml",
      "--set",
      "data.limit={ train: 16, test: 16 }",
    ]);
    assert.match(out, /^flowchart TD$/m);
    assert.match(out, /n_views\["views: views<br\/>\[2, B, 28, 28, 1\]"\]/);
    assert.match(out, /n_pred\["pred: mlp<br\/>\[2, B, 64\]/);
    assert.match(out, /n_text\["text: mlp<br\/>\[B, 64\]/);
    assert.match(out, /n_pred -->\|x\| loss_1/);
  },
});

Deno.test("cli: a bad --set is an error naming the override", async () => {
  await assert.rejects(
    () => capture(["validate", "recipes/nova.yaml", "--set", "train.stepz=7"]),
    /--set train\.stepz=7.*stepz/s,
  );
});
