/**
 * What a checkpoint records of the recipe that trained it, so a resume with
 * another recipe is refused and the refusal names what differs. The
 * fingerprint is the resolved recipe (defaults filled in) without what may
 * change between the two without changing the training: the evaluation
 * (`eval`), logging and checkpoint cadence (`train.log_every`,
 * `train.checkpoint_every`), the run's `name`, `vars` (already filled in),
 * a node's `init_from` (a resume loads every parameter), how this machine
 * loads data (`data.cache`, `data.concurrency`), and where files live on it:
 * the values of `data`'s location keys (`dir`, `root`, `csv` and its split
 * map, `images`, `reports`, `path`, `metadata`, `split_csv`, `labels`) and of
 * a node's `model_dir` are masked, their keys kept (a run moved to another
 * machine edits `data.dir`; adding a split is still a change).
 *
 * Stored in a checkpoint's metadata as `training_recipe` (canonical JSON) and
 * `recipe_sha256` (its SHA-256), `core/checkpoint.ts`.
 *
 * @module
 */
import { parse } from "yaml";

/**
 * Top-level keys a resumed recipe may change: evaluation, the run's name, and
 * `vars` (a resolved recipe has every `${…}` filled in already).
 */
const FREE_KEYS = new Set(["eval", "name", "vars"]);
const FREE_TRAIN_KEYS = new Set(["log_every", "checkpoint_every"]);
/** Data settings that tune this machine's loading, not what is loaded. */
const FREE_DATA_KEYS = new Set(["cache", "concurrency"]);
/**
 * Keys of `data` whose string values are file locations on this machine
 * (a map under `csv`, split → file, too). Shard patterns (`shards`) are not:
 * their ranges choose the data.
 */
const DATA_LOCATION_KEYS = new Set([
  "dir",
  "root",
  "csv",
  "images",
  "reports",
  "path",
  "metadata",
  "split_csv",
  "labels",
]);
/** Node keys whose string values are file locations (a text tower's model folder root). */
const NODE_LOCATION_KEYS = new Set(["model_dir"]);
/** Stands for a location in the canonical form (the key stays, so adding one is a change). */
const LOCATION = "<location>";

/** Whether a string at `path` is a file location on this machine. */
function located(path: string[]): boolean {
  const [area] = path, own = path.at(-1)!, parent = path.at(-2);
  if (area === "data") return DATA_LOCATION_KEYS.has(own) || parent === "csv";
  return area === "nodes" && NODE_LOCATION_KEYS.has(own);
}

/** Whether the key at `path` (and everything under it) may change on resume. */
function free(path: string[]): boolean {
  const key = path.at(-1)!;
  if (path.length === 1) return FREE_KEYS.has(key);
  if (path.length === 2 && path[0] === "train") return FREE_TRAIN_KEYS.has(key);
  if (path.length === 2 && path[0] === "data") return FREE_DATA_KEYS.has(key);
  // A node's `init_from`: a resume loads every parameter from the checkpoint instead.
  return path.length === 3 && path[0] === "nodes" && key === "init_from";
}

/** The recipe without the free keys, locations masked, keys sorted (a canonical form). */
function canonical(value: unknown, path: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => canonical(v, [...path, String(i)]));
  if (value === null || typeof value !== "object") {
    return typeof value === "string" && located(path) ? LOCATION : value;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (free([...path, key])) continue;
    out[key] = canonical((value as Record<string, unknown>)[key], [...path, key]);
  }
  return out;
}

/**
 * The training-relevant part of a resolved recipe, as canonical JSON.
 *
 * @param recipeYaml The resolved recipe (`RunnableRecipe.yaml`, a run's `recipe.yaml`).
 * @returns JSON with sorted keys, free keys left out.
 */
export function trainingRecipe(recipeYaml: string): string {
  return JSON.stringify(canonical(parse(recipeYaml), []));
}

/** SHA-256 of `text`'s UTF-8 bytes, as 64 hex digits. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A value for a message: JSON, cut to 60 characters. */
function show(value: unknown): string {
  const text = value === undefined ? "(absent)" : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * Where two canonical recipes differ: `key.path: saved → current` per leaf,
 * in key order.
 *
 * @param saved The checkpoint's `training_recipe` (parsed).
 * @param current The resuming recipe's (parsed).
 * @returns The differences (empty when equal).
 */
export function recipeDifferences(saved: unknown, current: unknown, path = ""): string[] {
  const bothObjects = [saved, current].every((v) => v !== null && typeof v === "object") &&
    Array.isArray(saved) === Array.isArray(current);
  if (!bothObjects) {
    return JSON.stringify(saved) === JSON.stringify(current)
      ? []
      : [`${path || "(recipe)"}: ${show(saved)} → ${show(current)}`];
  }
  const a = saved as Record<string, unknown>, b = current as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => {
    const key = Array.isArray(saved) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    return recipeDifferences(a[k], b[k], key);
  });
}
