/**
 * A tiny sweep for tests: `recipes/clip.yaml` cut to 3 steps of batch 16 on a
 * 96-image slice of MNIST with a one-block ViT (a member takes about a second
 * or two), written into a temporary folder.
 *
 * @module
 */
import { join } from "node:path";

/** Overrides that make `recipes/clip.yaml` train in about a second. */
export const TINY_CLIP_SETS: readonly string[] = [
  "data.limit={ train: 96, test: 32 }",
  "train.steps=3",
  "train.batch=16",
  "train.schedule.warmup=1",
  "train.log_every=1",
  "train.checkpoint_every=0",
  "nodes.image.depth=1",
  "vars.dim=16",
];

/** What the tiny sweep varies. */
export interface TinySweepOptions {
  /** Sweep name (default `tiny`). */
  name?: string;
  /** `grid:` as YAML lines under it (default none). */
  grid?: string[];
  /** Seeds (default `[0, 1]`). */
  seeds?: number[];
  /** Extra top-level YAML (e.g. a `toggles:` block). */
  extra?: string;
}

/**
 * Writes `<dir>/tiny.yaml`, a sweep of `recipes/clip.yaml` (absolute path, so
 * the file works from any folder) with {@link TINY_CLIP_SETS}; returns its path.
 */
export async function writeTinySweep(dir: string, options: TinySweepOptions = {}): Promise<string> {
  const recipe = join(Deno.cwd(), "recipes/clip.yaml");
  const lines = [
    `name: ${options.name ?? "tiny"}`,
    "recipes:",
    `  clip: ${JSON.stringify(recipe)}`,
    "set:",
    ...TINY_CLIP_SETS.map((s) => `  - ${JSON.stringify(s)}`),
    ...(options.grid ? ["grid:", ...options.grid.map((g) => `  ${g}`)] : []),
    `seeds: ${JSON.stringify(options.seeds ?? [0, 1])}`,
    "metrics:",
    "  - { label: zero-shot top-1, key: zero_shot.top1 }",
    options.extra ?? "",
  ];
  const file = join(dir, "tiny.yaml");
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  return file;
}
