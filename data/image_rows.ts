/**
 * Rows that name one image file: a manifest with a row per caption (COCO's
 * and Flickr30k's caption files have five per image) lists each image several
 * times. Seeded `val` / `test` fractions keep an image's rows together (else
 * an image would be trained on and evaluated), and `merge_captions` makes
 * them one training sample whose caption is drawn per epoch.
 *
 * @module
 */
import type { BadInputLog } from "./bad_input.ts";
import type { SampleRecord } from "./file_source.ts";

/**
 * The records grouped by image path: each group's record indices, in order,
 * the groups in the order their first record appears.
 *
 * @param records Records (paths compared as written, after root resolution).
 */
export function rowsByImage(records: readonly SampleRecord[]): number[][] {
  const groups = new Map<string, number[]>();
  records.forEach((record, i) => {
    const group = groups.get(record.path);
    if (group) group.push(i);
    else groups.set(record.path, [i]);
  });
  return [...groups.values()];
}

/**
 * The images (paths) that more than one split names, with those splits: a
 * split column that trains on an image it also evaluates on.
 *
 * @param splits Split name → records.
 */
export function imagesInSeveralSplits(
  splits: Record<string, readonly SampleRecord[]>,
): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  for (const [name, records] of Object.entries(splits)) {
    for (const { path } of records) {
      const where = seen.get(path);
      if (!where) seen.set(path, [name]);
      else if (where.at(-1) !== name) where.push(name);
    }
  }
  return new Map([...seen].filter(([, where]) => where.length > 1));
}

/**
 * One record per image: the captions of every row naming it, in row order,
 * duplicates kept once; its label is the first row's. A row whose label
 * differs from the image's first row is a `bad_label` (its caption is not
 * merged; under `fail` the log throws).
 *
 * @param records A split's records.
 * @param log Where disagreeing labels are reported.
 */
export function mergeCaptions(records: readonly SampleRecord[], log: BadInputLog): SampleRecord[] {
  return rowsByImage(records).map((rows) => {
    const first = records[rows[0]!]!;
    const captions = new Set(first.captions);
    for (const i of rows.slice(1)) {
      const row = records[i]!;
      if (row.label !== first.label) {
        log.report({
          path: row.path,
          reason: "bad_label",
          detail: `merge_captions: a row of this image has label ${row.label}, an earlier row ` +
            `${first.label}; rows naming one image must agree (the later row's caption is left ` +
            `out; the image trains with the first row's label)`,
        });
        continue;
      }
      for (const caption of row.captions) captions.add(caption);
    }
    return { ...first, captions: [...captions] };
  });
}
