/** `novalab report <sweep-dir> [--out dir]`: prints the Markdown table and writes the report. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildProgram } from "../cli.ts";
import { tempDir, writeLambdaSweep } from "./testing.ts";

async function capture(args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const { log, error } = console;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    await buildProgram().parseAsync(args, { from: "user" });
  } finally {
    Object.assign(console, { log, error });
  }
  return { out: out.join("\n"), err: err.join("\n") };
}

Deno.test("cli: report prints the table, warns about unreadable members, writes --out", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const outDir = join(dir, "elsewhere");
  const { out, err } = await capture(["report", dir, "--out", outDir]);
  assert.match(out, /^### nova_lambda\n\n\| variant \| vars\.lambda \| zero-shot top-1 \(%\) ↑/);
  assert.match(out, /\| nova,lambda=0\.1 \| 0\.1 \| \*\*96\.00 ± 1\.41\*\* \|/);
  assert.ok(out.endsWith(`report: ${join(outDir, "README.md")}`));
  assert.match(err, /^warning: clip,lambda=0\.1-s1: status unreadable/);
  assert.match(
    await Deno.readTextFile(join(outDir, "README.md")),
    new RegExp(`Made by \`deno task report ${dir} --out ${outDir}\``),
  );
});

Deno.test("cli: report on a directory without sweep.json is an error naming the file", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await assert.rejects(capture(["report", dir]), (e: Error) => {
    assert.ok(e.message.startsWith(`${join(dir, "sweep.json")}: not found`), e.message);
    return true;
  });
});
