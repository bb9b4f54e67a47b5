/**
 * Tables that would load wrong data are refused, naming the file: a quote
 * never closed (it swallowed the rest of the file as one bad row), a header
 * naming a column twice (the later won), corrupt gzip, text that is not UTF-8.
 */
import assert from "node:assert/strict";
import { BadInputLog } from "./bad_input.ts";
import { readTable } from "./table.ts";

async function table(name: string, content: string | Uint8Array) {
  const dir = await Deno.makeTempDir({ prefix: "novalab-table-" });
  const file = `${dir}/${name}`;
  if (typeof content === "string") await Deno.writeTextFile(file, content);
  else await Deno.writeFile(file, content);
  return { dir, file };
}

Deno.test("readTable: an open quote, a repeated column, corrupt gzip and non-UTF-8 are errors", async () => {
  const rows = Array.from({ length: 10 }, (_, i) => `img${i}.png,caption ${i}`);
  rows[3] = 'img3.png,"an open quote';
  const cases: [string, string | Uint8Array, RegExp][] = [
    [
      "q.csv",
      ["image_path,caption", ...rows].join("\n"),
      /table ".*q\.csv": a quote opened on line 5 or later is never closed/,
    ],
    [
      "d.csv",
      "image_path,caption,caption\na.png,first,second\n",
      /the header names column "caption" twice \(columns 2 and 3\)/,
    ],
    [
      "z.csv.gz",
      new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4]),
      /z\.csv\.gz": its gzip data is corrupt/,
    ],
    [
      "l.csv",
      new Uint8Array([...new TextEncoder().encode("a,b\ncaf"), 0xe9, 10]),
      /is not UTF-8 text/,
    ],
  ];
  for (const [name, content, message] of cases) {
    const { dir, file } = await table(name, content);
    for (const policy of ["skip", "fail"] as const) {
      const log = new BadInputLog("t", { policy });
      await assert.rejects(() => readTable(file, { log }), message, `${name}, ${policy}`);
      assert.equal(log.summary().total, 0, "nothing counted as a skipped row");
    }
    await Deno.remove(dir, { recursive: true });
  }
  // Quoted commas, newlines and doubled quotes still read.
  const { dir, file } = await table("ok.csv", 'image_path,caption\na.png,"x, ""y""\nz"\n');
  const read = await readTable(file, { log: new BadInputLog("t", { policy: "fail" }) });
  assert.deepEqual(read.rows.map((r) => r.values["caption"]), ['x, "y"\nz']);
  await Deno.remove(dir, { recursive: true });
});
