/**
 * What a checkpoint records of the recipe that trained it, so a resume with
 * another recipe is refused and the refusal names what differs. The
 * fingerprint is the resolved recipe (defaults filled in) without what may
 * change between the two without changing the training: the evaluation
 * (`eval`), logging and checkpoint cadence (`train.log_every`,
 * `train.checkpoint_every`), the run's `name`, and where files live on this
 * machine — string values under a key named like a location (`dir`, `root`,
 * `csv`, `images`, `reports`, `cache`, `model_dir`, `path`, `shards`,
 * `init_from`: a run moved to another machine edits `data.dir`).
 *
 * Stored in a checkpoint's metadata as `training_recipe` (canonical JSON) and
 * `recipe_sha256` (its SHA-256), `core/checkpoint.ts`.
 *
 * @module
 */
import { parse } from "yaml";

/** Keys a resumed recipe may change: their values do not reach the training. */
const FREE_KEYS = new Set(["eval", "name"]);
const FREE_TRAIN_KEYS = new Set(["log_every", "checkpoint_every"]);
/** Keys whose string values are locations on this machine. */
const LOCATION_KEYS = new Set([
  "dir",
  "root",
  "csv",
  "images",
  "reports",
  "cache",
  "model_dir",
  "path",
  "shards",
  "init_from",
]);

/** The recipe without the free keys, keys sorted (a canonical form). */
function canonical(value: unknown, path: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => canonical(v, [...path, String(i)]));
  if (value === null || typeof value !== "object") {
    const located = path.some((k) => LOCATION_KEYS.has(k));
    return typeof value === "string" && located ? undefined : value;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (path.length === 0 && FREE_KEYS.has(key)) continue;
    if (path.length === 1 && path[0] === "train" && FREE_TRAIN_KEYS.has(key)) continue;
    const v = canonical((value as Record<string, unknown>)[key], [...path, key]);
    if (v !== undefined) out[key] = v;
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
