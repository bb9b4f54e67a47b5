/**
 * The file that keeps choices tuned on a device (`--autotune`): matmul
 * tilings (`kernels/matmul_autotune_cache.ts`), the attention's dK/dV form
 * (`kernels/attention_autotune.ts`) and the LayerNorm backward's form
 * (`kernels/layernorm_autotune.ts`), so each is timed once per device.
 *
 * `<cache dir>/matmul_tilings.json` maps an adapter's name (vendor,
 * architecture, device, description) and a fingerprint of the kernels the
 * choices were timed with (a hash of their WGSL: a change to the kernels
 * starts afresh) to each shape's choice. It is written atomically; a file that
 * cannot be read is reported and replaced, never trusted.
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { writeJsonAtomic } from "../core/atomic.ts";
import { webGpuAdapterName } from "../core/webgpu_device.ts";

/** The cache's format tag. */
export const TILING_CACHE_FORMAT = "novalab-matmul-tilings/1";
/** The cache's file name inside the cache directory. */
export const TILING_CACHE_FILE = "matmul_tilings.json";

interface TuningCacheFile {
  format: string;
  /** `adapter name` → `kernel fingerprint` → `shape key` → choice. */
  adapters: Record<string, Record<string, Record<string, unknown>>>;
}

/** An open cache: this adapter's entries, read from and written back to one file. */
export interface TuningCache {
  /** The adapter the entries are for. */
  adapter: string;
  /** The file (`""`: none — nothing is read or written). */
  file: string;
  /** Problems with the file as read (it will be replaced). */
  warnings: string[];
  /** The entry of shape `key` timed with the kernels of `fingerprint`, if any. */
  get(fingerprint: string, key: string): unknown;
  /** Adds or replaces that entry (written by {@linkcode TuningCache.save}). */
  put(fingerprint: string, key: string, choice: unknown): void;
  /** Writes the file if an entry was added or the file was unreadable. */
  save(): Promise<void>;
}

async function readCacheFile(file: string, warnings: string[]): Promise<TuningCacheFile> {
  const empty: TuningCacheFile = { format: TILING_CACHE_FORMAT, adapters: {} };
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
    const parsed = JSON.parse(text) as TuningCacheFile;
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

/** Opens the cache in `cacheDir` (`""`: an in-memory one) for `backend`'s adapter. */
export async function openTuningCache(
  backend: WebGPUBackend,
  cacheDir: string,
): Promise<TuningCache> {
  const adapter = webGpuAdapterName(backend);
  const file = cacheDir ? `${cacheDir}/${TILING_CACHE_FILE}` : "";
  const warnings: string[] = [];
  const data = file
    ? await readCacheFile(file, warnings)
    : { format: TILING_CACHE_FORMAT, adapters: {} };
  const mine = (data.adapters[adapter] ??= {});
  let added = false;
  return {
    adapter,
    file,
    warnings,
    get: (fingerprint, key) => mine[fingerprint]?.[key],
    put(fingerprint, key, choice) {
      (mine[fingerprint] ??= {})[key] = choice;
      added = true;
    },
    async save() {
      if (!file || (!added && warnings.length === 0)) return;
      await Deno.mkdir(cacheDir, { recursive: true });
      await writeJsonAtomic(file, data);
    },
  };
}
