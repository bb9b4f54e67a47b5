/**
 * Lazy loading of `sharp` (a native Node-API module): importing it needs
 * Deno's `--allow-ffi`, so it is loaded on the first decode, not when the data
 * room is imported — recipes that never decode files (MNIST, Fashion-MNIST)
 * run without `--allow-ffi`.
 *
 * @module
 */
import type SharpType from "sharp";

/** The `sharp` constructor function. */
export type Sharp = typeof SharpType;

let loading: Promise<Sharp> | undefined;
let loaded: Sharp | undefined;

/**
 * `sharp` if it is already loaded, else `undefined` — lets a decode start
 * synchronously (no `await` before the work is queued on sharp's threads).
 */
export function loadedSharp(): Sharp | undefined {
  return loaded;
}

/** Loads `sharp` once; a failure explains the `--allow-ffi` requirement. */
export function loadSharp(): Promise<Sharp> {
  loading ??= import("sharp").then((m) => (loaded = m.default as Sharp)).catch((e) => {
    loading = undefined;
    throw new Error(
      `decoding images needs the native module sharp, which failed to load: ` +
        `${String((e as Error).message).split("\n")[0]}. Run Deno with --allow-ffi ` +
        `(e.g. deno run --allow-ffi …), or use a source that needs no decoding (mnist, fashion_mnist)`,
    );
  });
  return loading;
}
