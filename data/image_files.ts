/**
 * Images named on a command line, as a model's input: files and folders
 * (a folder stands for its image files, sorted, not recursing) decoded to a
 * trained model's input shape with the same decoder as the training data
 * (`data/decode.ts`: size, channels, fit; values in `[0, 1]`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { extname, join } from "node:path";
import type { Tensor4D } from "../core/tensor.ts";
import { decodeInto, type DecodeOptions, mapLimit } from "./decode.ts";

/** File extensions a folder's images are recognised by (lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  ".jpg",
  ".jpeg",
  ".png",
  ".webp",
  ".gif",
  ".tif",
  ".tiff",
  ".avif",
];

/**
 * The image files `paths` name: a file stays (whatever its extension), a
 * folder gives its files with an image extension, sorted by name.
 *
 * @param paths Files and folders.
 * @throws When a path does not exist, or a folder holds no image file.
 */
export async function listImageFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new Error(`${path}: no such file or folder`);
      throw e;
    }
    if (!info.isDirectory) {
      files.push(path);
      continue;
    }
    const inside: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      const ext = extname(entry.name).toLowerCase();
      if (!IMAGE_EXTENSIONS.includes(ext)) continue;
      const file = join(path, entry.name);
      // A link counts when it leads to a file (a folder of links into a dataset).
      const isFile = entry.isSymlink
        ? await Deno.stat(file).then((s) => s.isFile, () => false)
        : entry.isFile;
      if (isFile) inside.push(file);
    }
    if (inside.length === 0) {
      throw new Error(
        `${path}: a folder without image files (expected files ending in ` +
          `${IMAGE_EXTENSIONS.join(", ")})`,
      );
    }
    files.push(...inside.sort());
  }
  return files;
}

/**
 * Decodes `files` into one `[N, H, W, C]` float32 tensor of values in `[0, 1]`.
 *
 * @param files Image files (a missing or undecodable one throws, naming it).
 * @param options The model's input size and channels, the fit, and decodes in flight (default 8).
 */
export async function readImageFiles(
  files: readonly string[],
  options: DecodeOptions & { concurrency?: number },
): Promise<Tensor4D> {
  const { height, width, channels } = options;
  const size = height * width * channels;
  const out = new Float32Array(files.length * size);
  await mapLimit(files, {
    limit: options.concurrency ?? 8,
    fn: async (file, i) => {
      try {
        await decodeInto(file, { ...options, out, offset: i * size, path: file });
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) throw new Error(`${file}: no such file`);
        throw e;
      }
    },
  });
  return tf.tensor4d(out, [files.length, height, width, channels]);
}
