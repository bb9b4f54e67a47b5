/**
 * Few-shot draws for the linear probe (CLIP's few-shot linear probes,
 * arXiv 2103.00020 §3.1.5 and Fig. 6–7): K labelled samples of every class,
 * drawn without replacement from a pool of labelled features, seeded by the
 * probe's seed and the draw's index, so that each repeat sees another set and
 * a rerun the same ones.
 *
 * @module
 */
import { deriveSeed, Rng, shuffle } from "../core/rng.ts";
import { selectRows } from "./linalg.ts";
import type { Features } from "./linear_probe.ts";

/**
 * `shots` samples of every class of `pool`, in class order (class 0's first).
 *
 * @param pool Labelled features (labels `0 … classes − 1`), validation excluded.
 * @param options `shots` per class, the class count, the probe's `seed` and the
 *   draw's index `draw` (0-based).
 * @returns The drawn features (`shots × classes` rows).
 * @throws When a label is outside `0 … classes − 1`, or a class has fewer than
 *   `shots` samples in the pool (naming it, its count and the way out).
 */
export function drawShots(
  pool: Features,
  options: { shots: number; classes: number; seed: number; draw: number; classNames?: string[] },
): Features {
  const byClass: number[][] = Array.from({ length: options.classes }, () => []);
  pool.y.forEach((label, i) => {
    if (!(label >= 0 && label < options.classes)) {
      throw new Error(
        `linear_probe: label ${label} of training sample ${i} is outside [0, ${options.classes}) ` +
          `(the data source's classes)`,
      );
    }
    byClass[label]!.push(i);
  });
  const short = byClass.findIndex((rows) => rows.length < options.shots);
  if (short >= 0) {
    const name = options.classNames?.[short] ?? String(short);
    throw new Error(
      `linear_probe: shots ${options.shots} needs ${options.shots} labelled training samples of ` +
        `every class, but class "${name}" has ${byClass[short]!.length} among the training ` +
        `samples read (validation excluded); ` +
        `raise train_limit or lower shots`,
    );
  }
  const rng = new Rng(deriveSeed(options.seed, "shots", options.draw));
  const picked = byClass.flatMap((rows) =>
    [...shuffle(Int32Array.from(rows), rng)].slice(0, options.shots)
  );
  return { x: selectRows(pool.x, picked), y: Int32Array.from(picked, (i) => pool.y[i]!) };
}
