/**
 * Splits that a source does not ship: a seeded fraction of the samples held
 * out as `val` / `test`, and held-out classes for true zero-shot experiments
 * (train on the seen classes, evaluate on classes the model never saw).
 *
 * Held-out layout ({@link heldOutLayout}): `train` and `val` keep only samples
 * of the seen classes; every other split `s` (e.g. `test`) keeps all its
 * samples and gains `s_seen` and `s_unseen`. Class names and labels are not
 * renumbered, so a zero-shot evaluator on `test_unseen` classifies among all
 * classes (generalised zero-shot); restricting the candidates to the unseen
 * classes is the evaluator's business.
 *
 * @module
 */
import { deriveSeed, Rng, shuffle } from "../core/rng.ts";

/** Row indices of the parts of a fraction split; each part sorted ascending. */
export interface FractionSplit {
  /** Rows kept for training. */
  train: Int32Array;
  /** Rows held out for validation (empty when `val` is 0). */
  val: Int32Array;
  /** Rows held out for testing (empty when `test` is 0). */
  test: Int32Array;
}

/**
 * Splits `0 … size-1` by a seeded permutation: the first `round(test·size)`
 * rows of the permutation become `test`, the next `round(val·size)` become
 * `val`, the rest `train`.
 *
 * @param size Number of samples.
 * @param options Fractions `val` and `test` (each in `[0, 1)`, sum < 1) and the `seed`.
 */
export function fractionSplit(
  size: number,
  options: { val?: number; test?: number; seed: number },
): FractionSplit {
  const val = options.val ?? 0;
  const test = options.test ?? 0;
  if (!(val >= 0 && test >= 0 && val + test < 1)) {
    throw new RangeError(
      `split fractions val=${val} and test=${test} must be >= 0 with val + test < 1`,
    );
  }
  const order = Int32Array.from({ length: size }, (_, i) => i);
  shuffle(order, new Rng(deriveSeed(options.seed, "fraction-split")));
  const nTest = Math.round(test * size);
  const nVal = Math.round(val * size);
  return {
    test: order.slice(0, nTest).sort(),
    val: order.slice(nTest, nTest + nVal).sort(),
    train: order.slice(nTest + nVal).sort(),
  };
}

/**
 * Label indices of the class names in `held`, checked against `classNames`.
 *
 * @param held Class names to hold out (at least one, not all).
 * @param classNames The source's class names, indexed by label.
 * @returns The labels, in the order given.
 */
export function classIndices(held: readonly string[], classNames: readonly string[]): number[] {
  const out = held.map((name) => {
    const i = classNames.indexOf(name);
    if (i < 0) {
      throw new Error(
        `held_out_classes: unknown class "${name}"; expected names from: ${classNames.join(", ")}`,
      );
    }
    return i;
  });
  if (new Set(out).size === classNames.length) {
    throw new Error(
      `held_out_classes holds out all ${classNames.length} classes; keep at least one seen class`,
    );
  }
  return out;
}

/**
 * Applies held-out classes to a set of splits (see the module doc for the layout).
 *
 * @param splits Split name → items.
 * @param options `held` labels and `label`, the label of an item.
 * @returns New splits: `train`/`val` restricted to seen classes, `s_seen` / `s_unseen` added.
 */
export function heldOutLayout<T>(
  splits: Record<string, T[]>,
  options: { held: readonly number[]; label: (item: T) => number },
): Record<string, T[]> {
  const held = new Set(options.held);
  const out: Record<string, T[]> = {};
  for (const [name, items] of Object.entries(splits)) {
    const seen = items.filter((it) => !held.has(options.label(it)));
    if (name === "train" || name === "val") {
      out[name] = seen;
      continue;
    }
    out[name] = items;
    out[`${name}_seen`] = seen;
    out[`${name}_unseen`] = items.filter((it) => held.has(options.label(it)));
  }
  for (const [name, items] of Object.entries(out)) {
    if (items.length === 0 && (name === "train" || name.endsWith("_unseen"))) {
      throw new Error(
        `held_out_classes leaves split "${name}" empty; expected samples of ` +
          (name === "train" ? "the seen classes in train" : "the held-out classes in it"),
      );
    }
  }
  return out;
}

/**
 * {@link heldOutLayout} for row-indexed splits (the IDX source's): each split
 * keeps its arrays and gets filtered `rows`; derived splits share their base's arrays.
 *
 * @param splits Split name → `{ labels, rows, … }` (label of row `r` is `labels[r]`).
 * @param held Held-out labels.
 */
export function heldOutRows<S extends { labels: ArrayLike<number>; rows: Int32Array }>(
  splits: Record<string, S>,
  held: readonly number[],
): Record<string, S> {
  const items = Object.fromEntries(
    Object.entries(splits).map(([k, s]) => [k, Array.from(s.rows, (row) => ({ s, row }))]),
  );
  const layout = heldOutLayout(items, { held, label: (it) => it.s.labels[it.row]! });
  return Object.fromEntries(
    Object.entries(layout).map(([k, list]) => {
      const base = splits[k.replace(/_(un)?seen$/, "")]!;
      return [k, { ...base, rows: Int32Array.from(list, (it) => it.row) }];
    }),
  );
}
