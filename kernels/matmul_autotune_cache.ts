/**
 * Tuning a training step's matmuls once per device: the shapes a step ran
 * (`recordMatMulShapes`), each timed by `kernels/matmul_autotune.ts` unless a
 * cache file already holds its choice for this adapter and these kernels.
 *
 * The cache, `<cache dir>/matmul_tilings.json`, maps an adapter's name
 * (vendor, architecture, device, description) and a fingerprint of the
 * kernels' WGSL (every tile's shader: a change to the kernels or the
 * tile forms starts afresh) to each shape's tiling. It is written atomically;
 * one that cannot be read is reported and replaced, never trusted.
 *
 * `NOVALAB_MATMUL_AUTOTUNE=1` (or `--autotune` on `deno task run` and the
 * benches) tunes after a run's first step. Off by default until GPU
 * measurements say it pays (docs/benchmarks.md).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { matMulShader } from "./matmul_program.ts";
import {
  clearTunedTilings,
  type MatMulShape,
  matMulShapeKey,
  recordMatMulShapes,
  setTunedTiling,
  type TilingChoice,
  tuningTiles,
} from "./matmul_tuning.ts";
import { type TunedShape, tuneMatMulShape, type TuneOptions } from "./matmul_autotune.ts";
import { fnv1a } from "../core/fnv1a.ts";
import { writeJsonAtomic } from "../core/atomic.ts";
import { webGpuAdapterName } from "../core/webgpu_device.ts";

/** Environment switch: `1` tunes a run's matmuls after its first step. */
export const MATMUL_AUTOTUNE_ENV = "NOVALAB_MATMUL_AUTOTUNE";

/** True when `NOVALAB_MATMUL_AUTOTUNE=1` (an unreadable environment counts as unset). */
export function matMulAutotuneWanted(): boolean {
  try {
    return Deno.env.get(MATMUL_AUTOTUNE_ENV) === "1";
  } catch {
    return false;
  }
}

/** The cache's format tag. */
export const TILING_CACHE_FORMAT = "novalab-matmul-tilings/1";
/** The cache's file name inside the cache directory. */
export const TILING_CACHE_FILE = "matmul_tilings.json";

/** A cached choice: the tiling and the times that chose it. */
interface CachedChoice extends TilingChoice {
  ms: number;
  rule_ms: number;
}

interface TilingCache {
  format: string;
  /** `adapter name` → `kernel fingerprint` → `shape key` → choice. */
  adapters: Record<string, Record<string, Record<string, CachedChoice>>>;
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

async function readCache(file: string, warnings: string[]): Promise<TilingCache> {
  const empty: TilingCache = { format: TILING_CACHE_FORMAT, adapters: {} };
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      warnings.push(`${file}: cannot read (${e}); retuning`);
    }
    return empty;
  }
  try {
    const parsed = JSON.parse(text) as TilingCache;
    if (parsed?.format !== TILING_CACHE_FORMAT || typeof parsed.adapters !== "object") {
      warnings.push(
        `${file}: format '${String(parsed?.format)}', expected '${TILING_CACHE_FORMAT}'; retuning`,
      );
      return empty;
    }
    return parsed;
  } catch (e) {
    warnings.push(`${file}: not JSON (${(e as Error).message}); retuning and replacing it`);
    return empty;
  }
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
 * is `""`).
 */
export async function autotuneMatMuls(
  backend: WebGPUBackend,
  shapes: readonly MatMulShape[],
  options: TuneOptions & { cacheDir?: string } = {},
): Promise<AutotuneReport> {
  const started = performance.now();
  const adapter = webGpuAdapterName(backend);
  const file = options.cacheDir ? `${options.cacheDir}/${TILING_CACHE_FILE}` : "";
  const warnings: string[] = [];
  const cache = file
    ? await readCache(file, warnings)
    : { format: TILING_CACHE_FORMAT, adapters: {} };
  const fingerprint = kernelFingerprint();
  const byKernels = (cache.adapters[adapter] ??= {});
  const entries = (byKernels[fingerprint] ??= {});
  const report: AutotuneReport = {
    adapter,
    tuned: [],
    cached: [],
    untunable: [],
    file,
    warnings,
    ms: 0,
  };
  for (const shape of shapes) {
    const key = matMulShapeKey(shape);
    const hit = entries[key];
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
    entries[key] = { tile, splits, ms, rule_ms: result.rule.ms };
  }
  if (file && (report.tuned.length > 0 || warnings.length > 0)) {
    await Deno.mkdir(options.cacheDir!, { recursive: true });
    await writeJsonAtomic(file, cache);
  }
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

/** Tuning that waits for a step: the shapes are recorded while the step runs. */
export interface StepTuning {
  /** Stops recording and tunes the shapes the step ran; returns the report's lines. */
  finish(): Promise<string[]>;
  /** Stops recording without tuning (a run that ends before its first step does). */
  stop(): void;
}

/**
 * Starts recording the matmul shapes of the next step, to tune them with
 * {@linkcode autotuneMatMuls} (cache in `cacheDir`) when `finish` is called;
 * `undefined` unless the active backend is webgpu. Clears the table first, so
 * the recorded step runs the rule's tilings whatever ran before in the
 * process (a run's first step is the same with and without tuning).
 */
export function startStepTuning(cacheDir: string): StepTuning | undefined {
  if (tf.getBackend() !== "webgpu") return undefined;
  clearTunedTilings();
  const recording = recordMatMulShapes();
  return {
    async finish() {
      recording.stop();
      const backend = tf.backend() as WebGPUBackend;
      return formatAutotuneReport(
        await autotuneMatMuls(backend, recording.shapes(), { cacheDir }),
      );
    },
    stop: () => recording.stop(),
  };
}
