/**
 * Atomic file writes: a reader sees either the old file or the complete new
 * one, never a partial write, and a crash leaves no half-written target.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of a newly created file (default: `0o644`, or the mode of
   * the file being replaced). Ignored on Windows.
   */
  mode?: number;
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function existingMode(path: string): Promise<number | undefined> {
  try {
    const mode = (await Deno.stat(path)).mode;
    return mode === null ? undefined : mode & 0o7777;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Flushes the directory entry (the rename) to disk; not possible everywhere, so best effort. */
async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the data itself is already synced.
  }
}

/**
 * Writes `data` to `path` atomically: write a temporary file in the same
 * directory (`.<name>.<random>.tmp`), `fsync` it, then rename it over `path`
 * (and `fsync` the directory where supported). On any failure the temporary file
 * is removed and the error is rethrown with the path; the old `path`, if any, is
 * untouched.
 *
 * @param path Destination file; its directory must exist.
 * @param data Bytes, or a string written as UTF-8.
 * @param options See {@linkcode AtomicWriteOptions}.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomSuffix()}.tmp`);
  try {
    const mode = options.mode ?? (await existingMode(path)) ?? 0o644;
    {
      using file = await Deno.open(tmp, { write: true, createNew: true, mode });
      for (let written = 0; written < bytes.length;) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    }
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode); // mode is masked by umask
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(`writeFileAtomic: could not write '${path}': ${message}`, { cause: e });
  }
  await syncDir(dir);
}

/**
 * Writes `value` as pretty-printed JSON (2-space indent, trailing newline) to
 * `path` atomically; see {@linkcode writeFileAtomic}.
 *
 * @param path Destination file; its directory must exist.
 * @param value Anything `JSON.stringify` accepts (not `undefined` or a function).
 * @param options See {@linkcode AtomicWriteOptions}.
 */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) {
    throw new TypeError(
      `writeJsonAtomic: cannot write ${typeof value} to '${path}'; expected a JSON value`,
    );
  }
  await writeFileAtomic(path, `${text}\n`, options);
}
