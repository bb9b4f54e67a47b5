/** `novalab sweep`: --dry-run prints the member table; bad shards and failed members are errors. */
import assert from "node:assert/strict";
import { cliLines } from "../tests/cli_lines.ts";
import { writeTinySweep } from "./testing.ts";

async function capture(args: string[]): Promise<string> {
  return (await cliLines(args)).join("\n");
}

Deno.test("cli sweep: --dry-run validates every member and prints the table with a shard marked", async () => {
  const out = await capture([
    "sweep",
    "recipes/sweeps/nova_lambda.yaml",
    "--dry-run",
    "--shard",
    "1/4",
  ]);
  assert.match(
    out,
    /^sweep nova_lambda: 15 members, all valid; shard 1\/4 runs the 4 marked \* → runs\/sweeps\/nova_lambda$/m,
  );
  assert.match(out, /^\* \[ 2\/15\] nova,lambda=0-s1 +train\.steps=300 .* vars\.lambda=0 seed=1$/m);
  assert.match(out, /^ {2}\[ 1\/15\] nova,lambda=0-s0 /m);
  assert.equal(out.split("\n").filter((l) => l.startsWith("* ")).length, 4);
});

Deno.test("cli sweep: a malformed --shard is an error before anything runs", async () => {
  await assert.rejects(
    () => capture(["sweep", "recipes/sweeps/nova_lambda.yaml", "--shard", "3/2"]),
    /--shard 3\/2: shard index 3 is out of range for 2 shards; expected 0 to 1/,
  );
});

Deno.test({
  name: "cli sweep: a sweep with a failed member runs the rest, then fails naming it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-cli-" });
    const file = await writeTinySweep(tmp, {
      seeds: [0],
      grid: ["train.optimizer.lr: [1e30, 1e-3]"],
    });
    await assert.rejects(
      () => capture(["sweep", file, "--out", `${tmp}/out`, "--backend", "wasm", "--quiet"]),
      /1 member\(s\) failed: clip,lr=1e\+30-s0; each error is in .*\/out\/members\/<id>\/status\.json/,
    );
    const done = JSON.parse(
      await Deno.readTextFile(`${tmp}/out/members/clip,lr=0.001-s0/status.json`),
    );
    assert.equal(done.state, "done");
    await Deno.remove(tmp, { recursive: true });
  },
});
