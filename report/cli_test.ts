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

Deno.test("cli: report on a directory with neither sweep.json nor runs is an error naming both", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await assert.rejects(capture(["report", dir]), (e: Error) => {
    assert.ok(
      e.message.startsWith(
        `${dir}: not a sweep directory (no sweep.json) nor a run directory (no recipe.yaml)`,
      ),
      e.message,
    );
    return true;
  });
});

/** A run directory as `deno task run` leaves it: recipe.yaml, and eval.json when it finished. */
async function writeRun(
  dir: string,
  run: { name: string; seed: number; eval?: object; failure?: object },
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "recipe.yaml"), `name: ${run.name}\nseed: ${run.seed}\n`);
  if (run.eval) await Deno.writeTextFile(join(dir, "eval.json"), JSON.stringify(run.eval));
  if (run.failure) await Deno.writeTextFile(join(dir, "failure.json"), JSON.stringify(run.failure));
}

Deno.test("cli: report on run directories groups seeds by recipe name", async () => {
  await using tmp = await tempDir();
  const runs = join(tmp.path, "runs");
  const zs = (top1: number, gap: number) => ({
    zero_shot: { top1, top5: 1, n: 100 },
    diagnostics: { n: 1000, gap },
  });
  await writeRun(join(runs, "nova-1"), { name: "nova", seed: 0, eval: zs(0.94, 0.07) });
  await writeRun(join(runs, "nova-2"), { name: "nova", seed: 1, eval: zs(0.96, 0.09) });
  await writeRun(join(runs, "clip-1"), { name: "clip", seed: 0, eval: zs(0.95, 0.27) });
  await writeRun(join(runs, "clip-2"), { name: "clip", seed: 1, failure: { step: 3 } });
  await writeRun(join(runs, "clip-3"), { name: "clip", seed: 2 });
  await Deno.mkdir(join(runs, "report")); // not a run: skipped
  const { out } = await capture(["report", runs]);
  // Defaults: each evaluator's headline metric, diagnostics' gap lower-is-better; counts skipped.
  assert.match(out, /\| variant \| zero_shot\.top1 \(%\) ↑ \| 95% CI \| diagnostics\.gap ↓ \|/);
  assert.match(
    out,
    /\| nova \| \*\*95\.00 ± 1\.41\*\* \| \[94\.00, 96\.00\] \| \*\*0\.08000 ± 0\.01414\*\* \|/,
  );
  assert.match(
    out,
    /\| clip \| \*\*95\.00\*\* \| – \| 0\.2700 \|.*\| 1\/3 \(1 failed, 1 running\) \|$/m,
  );
  assert.ok(out.endsWith(`report: ${join(runs, "report", "README.md")}`), out);
  const readme = await Deno.readTextFile(join(runs, "report", "README.md"));
  assert.match(
    readme,
    /^# Report of runs\n\nMade by `deno task report .*` on .* from 5 run directories/,
  );
  // Chosen columns, and two run directories named on the command line.
  const chosen = await capture([
    "report",
    join(runs, "nova-1"),
    join(runs, "clip-1"),
    "--metric",
    "zero_shot.top5",
    "--metric",
    "diagnostics.gap:lower",
    "--out",
    join(tmp.path, "two"),
  ]);
  assert.match(
    chosen.out,
    /\| variant \| zero_shot\.top5 \(%\) ↑ \| 95% CI \| diagnostics\.gap ↓ \|/,
  );
  await assert.rejects(
    capture(["report", runs, "--metric", "top1"]),
    /--metric "top1": expected <evaluator>\.<metric>\[:lower\|:higher\]/,
  );
});
