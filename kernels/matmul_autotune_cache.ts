/**
 * Tuning a training step's matmuls once per device: the shapes a step ran
 * (`recordMatMulShapes`), each timed by `kernels/matmul_autotune.ts` unless
 * the cache (`kernels/autotune_cache.ts`) already holds its choice for this
 * adapter and these kernels (a fingerprint of every tile's WGSL).
 *
 * `NOVALAB_MATMUL_AUTOTUNE=1` (or `--autotune` on `deno task run` and the
 * benches) tunes after a run's first step. Off by default until GPU
 * measurements say it pays (docs/benchmarks.md).
 *
 * @module
 */
import { envIs } from "../core/env.ts";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { matMulShader } from "./matmul_program.ts";
import {
  type MatMulShape,
  matMulShapeKey,
  setTunedTiling,
  type TilingChoice,
  tuningTiles,
} from "./matmul_tuning.ts";
import { type TunedShape, tuneMatMulShape, type TuneOptions } from "./matmul_autotune.ts";
import { fnv1a } from "../core/fnv1a.ts";
import { openTuningCache, type TuningCache } from "./autotune_cache.ts";

/** Environment switch: `1` tunes a run's matmuls after its first step. */
export const MATMUL_AUTOTUNE_ENV = "NOVALAB_MATMUL_AUTOTUNE";

/** True when `NOVALAB_MATMUL_AUTOTUNE=1` (an unreadable environment counts as unset). */
export function matMulAutotuneWanted(): boolean {
  return envIs(MATMUL_AUTOTUNE_ENV, "1");
}

/** A cached choice: the tiling and the times that chose it. */
interface CachedChoice extends TilingChoice {
  ms: number;
  rule_ms: number;
}

/** What {@linkcode autotuneMatMuls} did. */
export interface AutotuneReport {
  /** The adapter the choices are for. */
  adapter: string;
  /** Shapes timed now. */
  tuned: TunedShape[];
  /** Shapes whose choice came from the cache. */
  cached: { key: string; choice: TilingChoice }[];
  /** Shapes no novalab tiling runs on this device (tfjs's stock kernel does). */
  untunable: string[];
  /** The cache file read and written (`""`: none). */
  file: string;
  /** Problems with the cache file (it was replaced). */
  warnings: string[];
  /** Milliseconds the whole tuning took. */
  ms: number;
}

/** Fingerprint of the kernels a choice was timed with: the WGSL of every tile the tuner may pick. */
export function kernelFingerprint(): string {
  const sources = tuningTiles().map((tile) =>
    matMulShader({
      tile,
      transposeA: false,
      transposeB: false,
      vec4A: true,
      vec4B: true,
      vec4Out: true,
      bias: false,
      activation: "linear",
    })
  );
  return `${tuningTiles().map((t) => t.name).join(",")}:${fnv1a(sources.join("\n"))}`;
}

function validChoice(c: unknown): c is CachedChoice {
  const names = tuningTiles().map((t) => t.name);
  const x = c as CachedChoice;
  return typeof x === "object" && x !== null && names.includes(x.tile) &&
    Number.isInteger(x.splits) && x.splits >= 1;
}

/**
 * Gives every shape in `shapes` a tiling: from the cache file in `cacheDir`
 * where it holds one for this adapter and these kernels, else by timing its
 * candidates on `backend`; writes new choices back (no file when `cacheDir`
 * is `""`). With `cache`, uses that open cache instead and leaves saving it
 * to the caller.
 */
export async function autotuneMatMuls(
  backend: WebGPUBackend,
  shapes: readonly MatMulShape[],
  options: TuneOptions & { cacheDir?: string; cache?: TuningCache } = {},
): Promise<AutotuneReport> {
  const started = performance.now();
  const cache = options.cache ?? await openTuningCache(backend, options.cacheDir ?? "");
  const fingerprint = kernelFingerprint();
  const report: AutotuneReport = {
    adapter: cache.adapter,
    tuned: [],
    cached: [],
    untunable: [],
    file: cache.file,
    warnings: cache.warnings,
    ms: 0,
  };
  for (const shape of shapes) {
    const key = matMulShapeKey(shape);
    const hit = cache.get(fingerprint, key);
    if (validChoice(hit)) {
      const choice = { tile: hit.tile, splits: hit.splits };
      setTunedTiling(shape, choice);
      report.cached.push({ key, choice });
      continue;
    }
    const result = await tuneMatMulShape(backend, shape, options);
    if (!result) {
      report.untunable.push(key);
      continue;
    }
    report.tuned.push(result);
    const { tile, splits, ms } = result.chosen;
    cache.put(fingerprint, key, { tile, splits, ms, rule_ms: result.rule.ms });
  }
  if (!options.cache) await cache.save();
  report.ms = performance.now() - started;
  return report;
}

/** One line per shape: the choice against the rule's, for logs and bench output. */
export function formatAutotuneReport(r: AutotuneReport): string[] {
  const lines = [
    `matmul tilings for ${r.adapter}: ${r.tuned.length} tuned, ${r.cached.length} from ` +
    `${r.file || "memory"}, ${(r.ms / 1000).toFixed(1)} s`,
  ];
  for (const t of r.tuned) {
    const gain = t.rule.ms / Math.max(t.chosen.ms, 1e-9);
    lines.push(
      `  ${t.key}: ${t.chosen.tile}×${t.chosen.splits} ${t.chosen.ms.toFixed(3)} ms ` +
        `(rule ${t.rule.tile}×${t.rule.splits} ${t.rule.ms.toFixed(3)} ms, ${
          gain.toFixed(2)
        }×; ${t.timed.length} candidates, ${t.clock} clock)`,
    );
  }
  for (const key of r.untunable) lines.push(`  ${key}: past the device's limits (stock kernel)`);
  lines.push(...r.warnings.map((w) => `  warning: ${w}`));
  return lines;
}
