/**
 * The recipe switch `precision: f16`: it stops a run before anything is
 * written where it cannot be honoured (WASM here), and on an adapter with
 * `shader-f16` (CI's lavapipe) it trains, records itself in env.json, and
 * follows the fp32 run's losses within half-precision rounding.
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import { requestWebGpuAdapter, SHADER_F16 } from "../core/webgpu_device.ts";
import { matMulPrecision, setMatMulPrecision } from "../kernels/precision.ts";

const TINY = [
  "data.limit={ train: 64, test: 32 }",
  "train.batch=16",
  "train.steps=4",
  "train.log_every=1",
  "train.schedule=constant",
  "nodes.image.depth=1",
  "eval=[]",
];

Deno.test({
  name: "precision: f16 on the WASM backend stops before the run directory exists",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-f16-wasm-" });
    const recipe = await loadRunnable("recipes/clip.yaml", [...TINY, "precision=f16"]);
    await assert.rejects(
      runRecipe(recipe, { runsDir: runs, backend: "wasm", quiet: true }),
      /precision: f16 needs WebGPU .* but the active backend is wasm; use precision: fp32/,
    );
    assert.deepEqual([...Deno.readDirSync(runs)], [], "nothing written");
    assert.equal(matMulPrecision(), "fp32");
    await Deno.remove(runs, { recursive: true });
  },
});

const adapter = await requestWebGpuAdapter();

async function losses(dir: string): Promise<number[]> {
  const lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n");
  return lines.map((l) => JSON.parse(l)).filter((m) => "loss" in m).map((m) => m.loss);
}

Deno.test({
  name: "precision: f16 trains on WebGPU with shader-f16 and tracks the fp32 losses",
  ignore: !adapter?.features.has(SHADER_F16),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-f16-" });
    const trajectories: number[][] = [];
    for (const precision of ["fp32", "f16"]) {
      const recipe = await loadRunnable("recipes/clip.yaml", [...TINY, `precision=${precision}`]);
      const result = await runRecipe(recipe, { runsDir: runs, backend: "webgpu", quiet: true });
      assert.equal(result.backend.precision, precision);
      // Step 0 as written, 1–2 recorded, 3 replayed: f16 operands replay too.
      assert.equal(result.replay?.replays, 1, JSON.stringify(result.replay));
      const env = JSON.parse(await Deno.readTextFile(`${result.paths.root}/env.json`));
      assert.equal(env.backend.precision, precision, "env.json records the precision");
      trajectories.push(await losses(result.paths.root));
    }
    const [fp32, f16] = trajectories as [number[], number[]];
    assert.equal(f16.length, 4);
    f16.forEach((l, i) => {
      assert.ok(Number.isFinite(l), `step ${i} loss finite`);
      const rel = Math.abs(l - fp32[i]!) / Math.abs(fp32[i]!);
      assert.ok(rel < 1e-2, `step ${i}: f16 ${l} vs fp32 ${fp32[i]} (rel ${rel.toExponential(2)})`);
    });
    assert.ok(f16.some((l, i) => l !== fp32[i]), "f16 rounding changes the numbers");
    assert.equal(matMulPrecision(), "f16", "in force until the next run sets its own");
    setMatMulPrecision("fp32", true);
    await Deno.remove(runs, { recursive: true });
  },
});
