/**
 * The `image_folder` source: class-per-folder images (`root/<class>/*.jpg`),
 * or with split folders first (`root/train/<class>/…`, `root/val/…`,
 * `root/test/…` — used when every folder under `root` is a split name).
 * Captions come from templates over the class name (`"a photo of a {}."`), one
 * template picked per sample, seed and epoch. Labels follow `classes` (folder
 * names, default: all class folders sorted), so they agree across splits;
 * `rename` maps folder names to display names (e.g. WordNet ids → words).
 *
 * @module
 */
import { join } from "node:path";
import { BadInputLog } from "./bad_input.ts";
import { assembleSource, canonicalSplit, type FileSourceParams } from "./assemble.ts";
import type { TaggedRecord } from "./assemble.ts";
import { fillCaption } from "./captions.ts";
import type { FileImageSource } from "./file_source.ts";

/** Validated parameters of the `image_folder` source. */
export interface ImageFolderParams extends FileSourceParams {
  /** The root folder. */
  root: string;
  /** Caption templates with `{}` (the class name). */
  captions: string[];
  /** Class folder names in label order (default: every class folder, sorted). */
  classes?: string[];
  /** Folder name → class name used in captions and zero-shot prompts. */
  rename?: Record<string, string>;
  /** Image file extensions (lower case, with the dot). */
  extensions: string[];
  /** Source name (default: the root folder's name). */
  name?: string;
}

const SPLIT_NAMES = new Set(["train", "val", "test"]);

async function listDir(dir: string): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [];
  const files: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".")) continue;
      (e.isDirectory ? dirs : files).push(e.name);
    }
  } catch (e) {
    throw new Error(`image_folder: cannot read folder "${dir}": ${(e as Error).message}`);
  }
  return { dirs: dirs.sort(), files: files.sort() };
}

/** Split folders under `root` (`[]` when `root` holds class folders directly). */
async function splitFolders(root: string): Promise<string[]> {
  const { dirs } = await listDir(root);
  const named = dirs.filter((d) => SPLIT_NAMES.has(canonicalSplit(d)));
  if (named.length > 0 && named.length < dirs.length) {
    // Split folders beside others: neither layout; reading them as classes would be wrong.
    const others = dirs.filter((d) => !named.includes(d));
    throw new Error(
      `image_folder: "${root}" holds split folders (${named.join(", ")}) beside other folders ` +
        `(${others.join(", ")}); either every folder under root is a split (train, val, test) ` +
        "or every one is a class: move the others out",
    );
  }
  return named.length > 0 ? dirs : [];
}

async function classFolders(root: string, splits: string[]): Promise<string[]> {
  const all = new Set<string>();
  for (const base of splits.length ? splits.map((s) => join(root, s)) : [root]) {
    for (const d of (await listDir(base)).dirs) all.add(d);
  }
  return [...all].sort();
}

/**
 * Builds the `image_folder` source.
 *
 * @param params See {@link ImageFolderParams}.
 * @param ctx The recipe `seed` (fraction splits).
 */
export async function createImageFolderSource(
  params: ImageFolderParams,
  ctx: { seed: number; cacheDir?: string },
): Promise<FileImageSource> {
  const name = params.name ?? params.root.replace(/\/+$/, "").split("/").at(-1)!;
  const log = new BadInputLog(name, { policy: params.bad_input });
  const splits = await splitFolders(params.root);
  const found = await classFolders(params.root, splits);
  const folders = params.classes ?? found;
  for (const f of folders) {
    if (!found.includes(f)) {
      throw new Error(
        `image_folder: class folder "${f}" is not under "${params.root}"; ` +
          `expected one of: ${found.join(", ") || "(no folders)"}`,
      );
    }
  }
  if (folders.length === 0) {
    throw new Error(`image_folder: "${params.root}" has no class folders; expected root/<class>/*`);
  }
  const classNames = folders.map((f) => params.rename?.[f] ?? f);
  const records: TaggedRecord[] = [];
  const counts = new Array<number>(folders.length).fill(0);
  for (const split of splits.length ? splits : [undefined]) {
    for (const [label, folder] of folders.entries()) {
      const dir = split ? join(params.root, split, folder) : join(params.root, folder);
      const files = await listDir(dir).catch(() => ({ files: [] as string[] }));
      const captions = params.captions.map((t) => fillCaption(t, classNames[label]!));
      for (const file of files.files) {
        const ext = file.slice(file.lastIndexOf(".")).toLowerCase();
        if (!params.extensions.includes(ext)) continue;
        records.push({ path: join(dir, file), captions, label, split });
        counts[label]!++;
      }
    }
  }
  const empty = folders.filter((_, c) => counts[c] === 0);
  if (empty.length > 0) {
    throw new Error(
      `image_folder: class folder(s) ${empty.join(", ")} under "${params.root}" hold no image ` +
        `ending in ${params.extensions.join(", ")} (images in subfolders are not read); add ` +
        "images, or leave the class out with classes: [...]",
    );
  }
  return assembleSource(records, {
    name,
    classNames,
    params,
    seed: ctx.seed,
    log,
    cacheDir: ctx.cacheDir,
  });
}
