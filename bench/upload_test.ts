/**
 * `deno task bench upload` on a small batch: both ways give the same values
 * bit for bit (8- and 16-bit, grey replicated), the packed upload is a quarter
 * (half) of the floats' bytes, and the summary names both ways.
 */
import assert from "node:assert/strict";
import { benchUpload, formatUploadBench } from "./upload.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`bench/upload_test.ts skipped: ${skip}`);

Deno.test({
  name: "bench upload: floats and packed integers reach the device with the same values",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await useNovalabWebGpu();
    for (const [depth, grey] of [[8, false], [16, true]] as const) {
      const r = await benchUpload({ batch: 3, size: 9, depth, grey, reps: 2 });
      assert.ok(r.identical, `${depth}-bit${grey ? " grey" : ""}: values differ`);
      const values = 3 * 9 * 9 * 3;
      const stored = grey ? values / 3 : values;
      assert.deepEqual(r.bytes, [values * 4, Math.ceil((stored * depth) / 32) * 4]);
      assert.ok(r.floatsMs > 0 && r.packedMs > 0);
      assert.match(formatUploadBench(r), /floats \(converted on the host\).*\n.*packed/);
    }
  },
});
