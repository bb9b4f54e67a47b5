/** `bench` flags that are checked before any compute. */
import assert from "node:assert/strict";
import { parseAnchorModes } from "./anchor.ts";

Deno.test("bench --anchor-modes: fp32 and amp in any order; anything else names the bad value", () => {
  assert.deepEqual(parseAnchorModes("fp32,amp"), ["fp32", "amp"]);
  assert.deepEqual(parseAnchorModes(" amp "), ["amp"]);
  assert.throws(
    () => parseAnchorModes("fp32,fp16"),
    /--anchor-modes "fp32,fp16": expected a comma-separated list of fp32, amp \(got "fp16"\)/,
  );
  assert.throws(() => parseAnchorModes(","), /\(got none\)/);
});
