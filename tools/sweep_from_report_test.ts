import assert from "node:assert/strict";
import { join } from "node:path";
import { writeSweepReport } from "../report/write.ts";
import { sweepFromReport } from "./sweep_from_report.ts";

Deno.test("sweep_from_report: the committed SLIP report, rebuilt, reports the same table", async () => {
  const out = await Deno.makeTempDir({ prefix: "novalab-rebuilt-" });
  try {
    const n = await sweepFromReport("recipes/sweeps/slip.yaml", "docs/results/slip", out);
    assert.equal(n, 15);
    const report = await writeSweepReport(out, { baseline: "clip" });
    for (const file of ["table.csv", "members.csv"]) {
      assert.equal(
        await Deno.readTextFile(join(out, "report", file)),
        await Deno.readTextFile(join("docs/results/slip", file)),
        file,
      );
    }
    assert.equal(
      await Deno.readTextFile(report.files.comparison!.csv),
      await Deno.readTextFile("docs/results/slip/comparison.csv"),
    );
    // A report whose columns lack one of the sweep file's metrics (changed since) is refused.
    const edited = `${out}/edited`;
    await Deno.mkdir(edited);
    const csv = await Deno.readTextFile("docs/results/slip/members.csv");
    await Deno.writeTextFile(`${edited}/members.csv`, csv.replace("retrieval.t2i_r1", "t2i"));
    await assert.rejects(
      () => sweepFromReport("recipes/sweeps/slip.yaml", edited, `${out}/y`),
      /no column for metric retrieval\.t2i_r1 of recipes\/sweeps\/slip\.yaml/,
    );
    await assert.rejects(
      () => sweepFromReport("recipes/sweeps/cyclip.yaml", "docs/results/slip", `${out}/x`),
      /members\.csv:\d+: member slip-s0 is not a member of recipes\/sweeps\/cyclip\.yaml/,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
