/**
 * Tuned matmul tilings (`kernels/matmul_tuning.ts`, `matmul_autotune.ts`,
 * `matmul_autotune_cache.ts`) on the fallback adapter: the candidates of a
 * shape, the table the kernel reads (and what overrides it), products that
 * stay correct whichever tiling is chosen, the shapes a step records, timing
 * with both clocks, and the cache file — reused, replaced when unreadable,
 * ignored for other kernels.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { runNovalabMatMul } from "./matmul.ts";
import { SPLIT_K_ENV } from "./matmul_plan.ts";
import {
  clearTunedTilings,
  type MatMulShape,
  matMulShapeKey,
  recordMatMulShapes,
  setTunedTiling,
  tilingCandidates,
  tunedTiling,
  tuningTiles,
} from "./matmul_tuning.ts";
import { KEEP_RULE_WITHIN, tuneMatMulShape } from "./matmul_autotune.ts";
import {
  autotuneMatMuls,
  formatAutotuneReport,
  kernelFingerprint,
} from "./matmul_autotune_cache.ts";
import { TILING_CACHE_FILE } from "./autotune_cache.ts";
import {
  assertClose,
  testOnBothClocks,
  useNovalabWebGpu,
  values,
  webgpuSkipReason,
  withTuningCacheDir,
} from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** A weight gradient `Xᵀ·dY`: deep and narrow, so split candidates exist. */
const DEEP: MatMulShape = {
  batch: 1,
  m: 40,
  n: 36,
  k: 1030,
  transposeA: true,
  transposeB: false,
  f16: false,
};

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

/** The tile names and split flags of the matmul programs `fn` dispatches. */
function observeTilings(backend: WebGPUBackend, fn: () => void): string[] {
  const b = backend as unknown as { recordAndSubmit: (p: unknown, ...r: unknown[]) => void };
  const own = b.recordAndSubmit;
  const seen: string[] = [];
  b.recordAndSubmit = function (program, ...rest) {
    const v = (program as { variant?: { tile?: { name: string }; splitK?: boolean } }).variant;
    if (v?.tile) seen.push(`${v.tile.name}${v.splitK ? " split" : ""}`);
    return own.call(this, program, ...rest);
  };
  try {
    fn();
  } finally {
    b.recordAndSubmit = own;
  }
  return seen;
}

Deno.test("kernels/matmul_tuning: candidates start with the rule's tiling and hold no duplicates", () => {
  const deep = tilingCandidates(DEEP);
  const keys = deep.map((c) => `${c.tile}×${c.splits}`);
  assert.equal(new Set(keys).size, keys.length, `duplicates in ${keys}`);
  assert.ok(deep.some((c) => c.splits > 1), "a deep product gets split candidates");
  assert.ok(["t128", "t64", "t32"].every((t) => deep.some((c) => c.tile === t && c.splits === 1)));
  const whole = tilingCandidates({ ...DEEP, epilogue: { gate: "relu" } });
  assert.ok(whole.every((c) => c.splits === 1), "a call that must stay whole is never split");
  const wide = tilingCandidates({ ...DEEP, m: 512, n: 512, k: 64 });
  const all = tuningTiles().map((t) => t.name);
  assert.deepEqual(wide.map((c) => c.tile).sort(), [...all].sort(), "every tile and form, once");
  assert.ok(wide.every((c) => c.splits === 1), "a shallow product: each tile whole");
  assert.ok(all.includes("t128ip") && all.includes("t64"), `forms and small tiles: ${all}`);
  assert.ok(
    deep.filter((c) => c.tile === "t128ip").every((c) => c.splits === 1),
    "the 128 tile's other forms are timed whole",
  );
  assert.notEqual(matMulShapeKey(DEEP), matMulShapeKey({ ...DEEP, transposeA: false }));
  assert.equal(
    matMulShapeKey({ ...DEEP, epilogue: { bias: true, activation: "gelu", residual: true } }),
    "1x40x36x1030 TN bias+gelu+residual",
  );
  assert.equal(matMulShapeKey({ ...DEEP, epilogue: { activation: "linear" } }), "1x40x36x1030 TN");
});

Deno.test(
  "kernels/matmul_tuning: the kernel runs the tuned tiling, correctly; forced and SPLIT_K win",
  opts,
  async () => {
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const a = tensor([DEEP.k, DEEP.m], 1), b = tensor([DEEP.k, DEEP.n], 2);
    const av = values(DEEP.k * DEEP.m, 1), bv = values(DEEP.k * DEEP.n, 2);
    const expected = new Float64Array(DEEP.m * DEEP.n); // Aᵀ·B with A [k, m], B [k, n]
    for (let p = 0; p < DEEP.k; p++) {
      for (let i = 0; i < DEEP.m; i++) {
        for (let j = 0; j < DEEP.n; j++) {
          expected[i * DEEP.n + j]! += av[p * DEEP.m + i]! *
            bv[p * DEEP.n + j]!;
        }
      }
    }
    try {
      const choices = [{ tile: "t32", splits: 1 }, { tile: "t64", splits: 4 }, {
        tile: "t128ip",
        splits: 1,
      }];
      for (const choice of choices) {
        setTunedTiling(DEEP, choice);
        let out: tf.Tensor | undefined;
        const seen = observeTilings(backend, () => (out = tf.matMul(a, b, true, false)));
        assert.equal(seen[0], `${choice.tile}${choice.splits > 1 ? " split" : ""}`);
        assertClose(await out!.data(), expected, `tuned ${choice.tile}×${choice.splits}`, {
          atol: 1e-4,
          rtol: 1e-4,
        });
        out!.dispose();
      }
      const forced = observeTilings(backend, () => {
        const t = runNovalabMatMul(backend, a, b, {
          transposeA: true,
          transposeB: false,
          splits: 1,
        });
        backend.disposeData(t!.dataId);
      });
      assert.notEqual(forced[0], "t64 split", "a caller's forced split wins over the table");
      Deno.env.set(SPLIT_K_ENV, "0");
      try {
        const env = observeTilings(backend, () => tf.matMul(a, b, true, false).dispose());
        assert.ok(!env[0]!.endsWith("split"), `${SPLIT_K_ENV}=0 wins over the table: ${env}`);
      } finally {
        Deno.env.delete(SPLIT_K_ENV);
      }
    } finally {
      clearTunedTilings();
      tf.dispose([a, b]);
    }
    assert.equal(tunedTiling(DEEP), undefined);
  },
);

Deno.test(
  "kernels/matmul_tuning: a recording lists each free product's shape once",
  opts,
  async () => {
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const x = tensor([6, 20, 8], 3), w = tensor([8, 12], 4);
    const recording = recordMatMulShapes();
    tf.tidy(() => {
      tf.matMul(x.reshape([120, 8]), w);
      tf.matMul(x.reshape([120, 8]), w); // the same shape again
      tf.matMul(x, x, false, true); // batched A·Aᵀ
      const t = runNovalabMatMul(backend, w, w, { transposeA: true, transposeB: false, splits: 1 });
      backend.disposeData(t!.dataId); // forced: not recorded
    });
    recording.stop();
    tf.tidy(() => tf.matMul(w, w, true, false)); // after stop: not recorded
    assert.deepEqual(recording.shapes().map(matMulShapeKey), ["1x120x12x8 NN", "6x20x20x8 NT"]);
    assert.deepEqual([...recording.counts()], [["1x120x12x8 NN", 2], ["6x20x20x8 NT", 1]]);
    tf.dispose([x, w]);
  },
);

testOnBothClocks(
  (clock) =>
    `kernels/matmul_autotune: times every candidate (${clock} clock) and keeps the rule unless beaten`,
  opts,
  clearTunedTilings,
  async (backend, wallClock) => {
    const r = (await tuneMatMulShape(backend, DEEP, { reps: 3, wallClock }))!;
    assert.equal(r.clock, wallClock ? "wall" : "gpu");
    assert.equal(r.timed.length, tilingCandidates(DEEP).length, "every candidate timed");
    assert.ok(r.timed.every((t) => t.ms > 0 && Number.isFinite(t.ms)), JSON.stringify(r.timed));
    assert.ok(r.timed.every((t, i) => i === 0 || r.timed[i - 1]!.ms <= t.ms), "fastest first");
    const fastest = r.timed[0]!;
    const expected = fastest.ms < r.rule.ms * (1 - KEEP_RULE_WITHIN) ? fastest : r.rule;
    assert.deepEqual(r.chosen, expected);
    assert.deepEqual(tunedTiling(DEEP), { tile: r.chosen.tile, splits: r.chosen.splits });
  },
);

Deno.test(
  "kernels/matmul_autotune_cache: tunes once, reuses the file, replaces a bad one, ignores other kernels",
  opts,
  async () => {
    await withTuningCacheDir(clearTunedTilings, async (backend, dir) => {
      const file = `${dir}/${TILING_CACHE_FILE}`;
      // Each timed with its call's epilogue: column sums (split allowed), a gate (never split).
      const shapes: MatMulShape[] = [
        { ...DEEP, epilogue: { columnSums: true } },
        { ...DEEP, transposeA: false, m: 24, k: 40, epilogue: { bias: true, gate: "gelu" } },
      ];
      const first = await autotuneMatMuls(backend, shapes, { cacheDir: dir, reps: 2 });
      assert.equal(first.tuned.length, 2);
      assert.equal(first.cached.length, 0);
      assert.match(formatAutotuneReport(first).join("\n"), /2 tuned, 0 from/);
      clearTunedTilings();
      const second = await autotuneMatMuls(backend, shapes, { cacheDir: dir, reps: 2 });
      assert.equal(second.tuned.length, 0, "the second run reads every choice from the file");
      assert.deepEqual(
        second.cached.map((c) => c.choice),
        first.tuned.map((t) => ({ tile: t.chosen.tile, splits: t.chosen.splits })),
      );
      assert.deepEqual(tunedTiling(shapes[0]!), second.cached[0]!.choice, "cached fill the table");
      assert.equal(first.tuned[1]!.chosen.splits, 1, "a gated call stays whole");
      // Another kernel fingerprint (changed WGSL): its entries do not apply here.
      const saved = JSON.parse(await Deno.readTextFile(file));
      const adapter = Object.keys(saved.adapters)[0]!;
      saved.adapters[adapter] = { "other-kernels": saved.adapters[adapter][kernelFingerprint()] };
      await Deno.writeTextFile(file, JSON.stringify(saved));
      const other = await autotuneMatMuls(backend, [DEEP], { cacheDir: dir, reps: 2 });
      assert.equal(other.tuned.length, 1, "entries of other kernels are not used");
      await Deno.writeTextFile(file, "{ not json");
      const bad = await autotuneMatMuls(backend, [DEEP], { cacheDir: dir, reps: 2 });
      assert.equal(bad.tuned.length, 1);
      assert.match(bad.warnings[0]!, /matmul_tilings\.json: not JSON .*retuning and replacing it/);
      assert.equal(JSON.parse(await Deno.readTextFile(file)).format, "novalab-matmul-tilings/1");
    });
  },
);
