/**
 * File-level helpers of the decoded-image cache (`data/decoded_cache.ts`): a
 * file's version stamp, the grey-image compaction, and the clean-up of
 * temporaries left by killed processes.
 *
 * @module
 */
import { join } from "node:path";
import type { RawPixels } from "./decode.ts";

/** What identifies a file's version: size, inode, modification and status-change times (ms). */
export interface FileStamp {
  /** Bytes. */
  size: number;
  /** Inode number (null where the platform has none). */
  ino: number | null;
  /** Modification time, settable (`touch`, `rsync -t`, `cp -p`). */
  mtime: number | null;
  /** Status-change time (whole seconds in Deno): set by the system on every write, not by tools. */
  ctime: number | null;
}

/** The {@link FileStamp} of a `Deno.statSync`/`Deno.stat` result. */
export function fileStamp(stat: Deno.FileInfo): FileStamp {
  return {
    size: stat.size,
    ino: stat.ino,
    mtime: stat.mtime?.getTime() ?? null,
    ctime: stat.ctime?.getTime() ?? null,
  };
}

/** The first channel of interleaved RGB pixels when R = G = B everywhere, else `undefined`. */
export function greyChannel(pixels: RawPixels): RawPixels | undefined {
  for (let i = 0; i < pixels.length; i += 3) {
    if (pixels[i] !== pixels[i + 1] || pixels[i] !== pixels[i + 2]) return undefined;
  }
  const grey = pixels instanceof Uint16Array
    ? new Uint16Array(pixels.length / 3)
    : new Uint8Array(pixels.length / 3);
  for (let i = 0, j = 0; j < grey.length; i += 3, j++) grey[j] = pixels[i]!;
  return grey;
}

/** Removes the files in `tmpDir` older than `olderThanMs` (left by killed processes); best effort. */
export async function removeStaleTemporaries(tmpDir: string, olderThanMs: number): Promise<void> {
  try {
    for await (const e of Deno.readDir(tmpDir)) {
      const path = join(tmpDir, e.name);
      const mtime = (await Deno.stat(path).catch(() => undefined))?.mtime?.getTime();
      if (mtime !== undefined && Date.now() - mtime > olderThanMs) {
        await Deno.remove(path).catch(() => {});
      }
    }
  } catch {
    // No temporaries yet, or unreadable: nothing to clean.
  }
}
