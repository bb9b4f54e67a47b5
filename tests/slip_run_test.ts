/**
 * SLIP through short runs of recipes/slip.yaml: a WASM run trains CLIP's and
 * SimCLR's terms on one ViT that encodes three views, logs both terms, and
 * exports an inference model without the SimCLR head (evaluation reads the
 * whole image); on WebGPU the replayed step equals the step issued as written
 * bit for bit (the SimCLR views drawn anew each step, the fused NT-Xent).
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { runRecipe } from "../core/run.ts";
import { readMetrics } from "../core/rundir.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

const TINY = ["vars.dim=32", "nodes.ssl_proj.layers=[64, 64, 32]"];

Deno.test({
  name: "slip: a short WASM run trains both terms and exports no SimCLR head",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-slip-" });
    try {
      await seedTextCache(`${dir}/cache`);
      await initBackend("wasm");
      const recipe = await tinyRecipe("recipes/slip.yaml", [...TINY, "train.steps=4"]);
      const run = await runRecipe(recipe, {
        runsDir: dir,
        cacheDir: `${dir}/cache`,
        quiet: true,
        skipReport: true,
      });
      assert.ok(run.finished);
      const steps = (await readMetrics(run.paths)).filter((m) => m.terms !== undefined);
      assert.equal(steps.length, 4);
      for (const m of steps) {
        const terms = m.terms as Record<string, number>;
        assert.deepEqual(Object.keys(terms).sort(), ["clip", "ntxent"]);
        // NT-Xent over 2 × 16 rows lies in (0, s·2 + ln 31]; at τ = 0.1 an untrained
        // head's views are far from agreeing, so the term is well above 0.
        assert.ok(terms.ntxent! > 0.5 && terms.ntxent! < 20 + Math.log(31), `${terms.ntxent}`);
      }
      const top1 = run.eval.zero_shot?.top1;
      assert.ok(typeof top1 === "number" && top1 >= 0 && top1 <= 1, `top-1 ${top1}`);
      const model = decodeSafetensors(
        await Deno.readFile(`${run.paths.checkpoints}/model.safetensors`),
      );
      const names = [...model.tensors.keys()];
      assert.ok(names.some((n) => n.startsWith("image.")), names.join(", "));
      assert.ok(names.some((n) => n.startsWith("image_proj.")), names.join(", "));
      assert.ok(!names.some((n) => n.startsWith("ssl_")), `exported: ${names.join(", ")}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const skip = await webgpuSkipReason();
Deno.test({
  name: "slip: on WebGPU the replayed steps equal the steps as written (bit for bit)",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const recipe = await tinyRecipe("recipes/slip.yaml", [
      ...TINY,
      "train.steps=6",
      "train.checkpoint_every=0",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 6);
    assert.ok([...written.keys()].some((k) => k.startsWith("ssl_proj.")));
    assert.deepEqual(replayed, written, "replayed = as written");
  },
});
