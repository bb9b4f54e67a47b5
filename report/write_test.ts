import assert from "node:assert/strict";
import { join } from "node:path";
import { writeSweepReport } from "./write.ts";
import { tempDir, writeLambdaSweep } from "./testing.ts";

/** Checks that `svg` is one well-formed XML element tree rooted at `<svg>`; returns its text. */
function assertWellFormedSvg(svg: string): string {
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  let text = "", roots = 0;
  const token =
    /<!--[\s\S]*?-->|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  while (token.lastIndex < svg.length) {
    const at = token.lastIndex;
    const m = token.exec(svg);
    assert.ok(m, `malformed markup at offset ${at}: ${svg.slice(at, at + 60)}`);
    const [, closing, name, , selfClosing, chars] = m;
    if (chars !== undefined) {
      assert.ok(stack.length > 0 || !chars.trim(), "text outside the root element");
      assert.doesNotMatch(chars, /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/, "bare &");
      text += chars;
    } else if (name && closing) {
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    } else if (name && !selfClosing) {
      if (stack.length === 0) assert.ok(++roots === 1 && name === "svg", `second root <${name}>`);
      stack.push(name);
    }
  }
  assert.deepEqual(stack, [], "unclosed elements");
  return text;
}

Deno.test("writeSweepReport writes table, CSVs, well-formed SVGs and a README into <sweep>/report", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const date = new Date("2026-02-03T04:05:06Z");
  const report = await writeSweepReport(dir, { date });
  const out = join(dir, "report");
  assert.equal(report.out, out);
  assert.equal(await Deno.readTextFile(join(out, "table.md")), report.markdown);
  assert.match(
    await Deno.readTextFile(join(out, "table.csv")),
    /^variant,recipe,toggle,vars\.lambda,/,
  );
  assert.match(await Deno.readTextFile(join(out, "members.csv")), /^index,id,variant,/);
  assert.equal(report.files.svgs.length, 6);
  for (const path of report.files.svgs) {
    const text = assertWellFormedSvg(await Deno.readTextFile(path));
    assert.ok(path.startsWith(out + "/"));
    if (path.endsWith("_seeds.svg")) {
      for (const v of ["nova,lambda=0 ", "nova,lambda=0.1", "clip,lambda=0 ", "clip,lambda=0.1"]) {
        assert.ok(text.includes(v), `${path} names variant ${v}`);
      }
    } else {
      assert.ok(text.includes("vars.lambda") && text.includes("nova"), path);
      // clip never reported R@1, so it has no points there.
      assert.equal(text.includes("clip"), !path.includes("retrieval.r1"), path);
    }
  }
  const readme = await Deno.readTextFile(report.files.readme);
  assert.match(readme, /^# Sweep report: nova_lambda\n/);
  assert.ok(readme.includes(`Made by \`deno task report ${dir}\` on 2026-02-03T04:05:06.000Z`));
  assert.match(
    readme,
    /12 members: 8 done, 1 failed, 1 running, 1 not run, 1 unreadable; 4 variants/,
  );
  assert.match(readme, /\| nova,lambda=0\.1 \| 0\.1 \| \*\*96\.00 ± 1\.41\*\* \|/);
  for (const path of report.files.svgs) {
    assert.ok(readme.includes(`](${path.slice(out.length + 1)})`), `README embeds ${path}`);
  }
  assert.match(readme, /Warnings:\n\n- clip,lambda=0\.1-s1: status unreadable/);
  const leftovers = [...Deno.readDirSync(out)].filter((e) => e.name.endsWith(".tmp"));
  assert.deepEqual(leftovers, []);
});

Deno.test("writeSweepReport: --out elsewhere, reproducible output, recorded command", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const first = join(dir, "a"), second = join(dir, "b", "it's nested");
  await writeSweepReport(dir, { out: first, command: "deno task report x --out a" });
  await writeSweepReport(dir, { out: second });
  for (const name of ["table.md", "table.csv", "members.csv", "zero_shot.top1_seeds.svg"]) {
    assert.equal(
      await Deno.readTextFile(join(first, name)),
      await Deno.readTextFile(join(second, name)),
      `${name} is the same on a second run`,
    );
  }
  assert.match(
    await Deno.readTextFile(join(first, "README.md")),
    /Made by `deno task report x --out a`/,
  );
  assert.match(
    await Deno.readTextFile(join(second, "README.md")),
    new RegExp(
      `Made by \`deno task report ${dir} --out '${join(dir, "b", "it'\\\\''s nested")}'\``,
    ),
  );
});

Deno.test("writeSweepReport: a corrupt sweep.json stops it with the file named, writing nothing", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await Deno.writeTextFile(join(dir, "sweep.json"), JSON.stringify({ name: "x", members: [] }));
  await assert.rejects(
    writeSweepReport(dir),
    new RegExp(`^Error: ${join(dir, "sweep.json")}: not a sweep manifest: file: .*; metrics: `),
  );
  await assert.rejects(Deno.stat(join(dir, "report")), Deno.errors.NotFound);
});
