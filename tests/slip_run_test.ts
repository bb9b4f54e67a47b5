/**
 * SLIP through short runs of recipes/slip.yaml: one ViT encodes three views
 * (CLIP's head reads the first, SimCLR's the other two); a WASM run trains and
 * logs both terms, the NT-Xent falls, and the exported inference model has no
 * SimCLR head (evaluation reads the whole image); on WebGPU the replayed step
 * equals the step issued as written bit for bit (the SimCLR views drawn anew
 * each step, the fused NT-Xent).
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { buildRecipe, runRecipe } from "../core/run.ts";
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
      const recipe = await tinyRecipe("recipes/slip.yaml", [...TINY, "train.steps=6"]);
      // CLIP's head reads the CLIP view alone, SimCLR's head the two SimCLR views.
      const { graph, source } = await buildRecipe(recipe, `${dir}/cache`);
      assert.deepEqual(graph.shapes.get("image"), [3, "B", 64]);
      assert.deepEqual(graph.shapes.get("image_clip"), [1, "B", 64]);
      assert.deepEqual(graph.shapes.get("image_proj"), [1, "B", 32]);
      assert.deepEqual(graph.shapes.get("ssl_proj"), [2, "B", 32]);
      const kept = graph.inferenceNodes().map((n) => n.name);
      assert.ok(
        kept.includes("image_proj") && !kept.some((n) => n.startsWith("ssl_image")),
        `${kept}`,
      );
      assert.ok(!kept.includes("ssl_proj"), `${kept}`);
      graph.dispose();
      source.dispose();
      const run = await runRecipe(recipe, {
        runsDir: dir,
        cacheDir: `${dir}/cache`,
        quiet: true,
        skipReport: true,
      });
      assert.ok(run.finished);
      const steps = (await readMetrics(run.paths)).filter((m) => m.terms !== undefined);
      assert.equal(steps.length, 6);
      const ntxent = steps.map((m) => {
        const terms = m.terms as Record<string, number>;
        assert.deepEqual(Object.keys(terms).sort(), ["clip", "ntxent"]);
        return terms.ntxent!;
      });
      // The SimCLR head learns: the mean of the last two NT-Xent values is below the first.
      assert.ok((ntxent[4]! + ntxent[5]!) / 2 < ntxent[0]!, `NT-Xent ${ntxent.join(", ")}`);
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
