/**
 * The sample stream of the `webdataset` source: shards read in the given
 * order, each tar sample checked and turned into image bytes, caption, label
 * and a stable index (`offset of the shard + ordinal in the shard`, counting
 * usable samples only). Unusable samples and unreadable shards go to the
 * bad-input log and are left out of the stream.
 *
 * @module
 */
import type { SourceIdentity } from "./decoded_cache.ts";
import { fileStamp } from "./decoded_cache_files.ts";
import { BadInputError, type BadInputLog, type BadInputReason } from "./bad_input.ts";
import { readTarSamples, type TarSample } from "./tar_samples.ts";

/** How samples map to fields (part of the `webdataset` parameters). */
export interface WdsFields {
  /** Image member extensions, tried in order. */
  image_ext: string[];
  /** Caption member extension (e.g. `txt`). */
  text_ext: string;
  /** Caption field of the `.json` member, used when the text member is absent. */
  json_key: string;
  /** Class names; labels come from `.cls` or json `label` when given. */
  classes?: string[];
}

/** A usable sample of the stream. */
export interface StreamSample {
  /** Encoded image. */
  image: Uint8Array;
  /** Caption. */
  caption: string;
  /** Class index, or -1. */
  label: number;
  /** Stable index within the split. */
  index: number;
  /** `shard.tar:key`, for messages. */
  where: string;
  /** The shard file, the image member's name in it and the shard's stat when it was opened. */
  origin: SourceIdentity;
}

/** What is wrong with a tar sample. */
export interface SampleProblem {
  /** Bad-input reason. */
  reason: BadInputReason;
  /** Details for the summary. */
  detail: string;
}

type Problem = SampleProblem;

function parseJson(bytes: Uint8Array | undefined): Record<string, unknown> | Problem | undefined {
  if (!bytes) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch (e) {
    return { reason: "bad_member", detail: `unreadable .json (${(e as Error).message})` };
  }
  return { reason: "bad_member", detail: "the .json member is not an object" };
}

function labelOf(value: unknown, classes: readonly string[]): number | undefined {
  const text = String(value ?? "").trim();
  if (classes.includes(text)) return classes.indexOf(text);
  const n = Number(text);
  return text !== "" && Number.isInteger(n) && n >= 0 && n < classes.length ? n : undefined;
}

/**
 * The fields of a tar sample, or what is wrong with it.
 *
 * @param s The sample's members.
 * @param fields Which members hold image, caption and label.
 */
export function sampleFields(
  s: TarSample,
  fields: WdsFields,
): Omit<StreamSample, "index" | "where" | "origin"> & { ext: string } | SampleProblem {
  const ext = fields.image_ext.find((e) => s.files.has(e));
  if (!ext) {
    const have = [...s.files.keys()].join(", ");
    return {
      reason: "bad_member",
      detail: `no image member (${fields.image_ext.join("|")}); has ${have}`,
    };
  }
  const json = parseJson(s.files.get("json"));
  if (json && "reason" in json) return json as Problem;
  const text = s.files.get(fields.text_ext);
  const raw = text ? new TextDecoder().decode(text) : json?.[fields.json_key];
  if (raw === undefined) {
    const detail = `no caption (.${fields.text_ext} or .json "${fields.json_key}")`;
    return { reason: "bad_member", detail };
  }
  const caption = String(raw).replace(/\s+/g, " ").trim();
  if (!caption) return { reason: "empty_caption", detail: "the caption is empty" };
  let label = -1;
  if (fields.classes?.length) {
    const cls = s.files.get("cls");
    const value = cls ? new TextDecoder().decode(cls) : json?.label;
    const found = labelOf(value, fields.classes);
    if (found === undefined) {
      const detail = `label ${JSON.stringify(value ?? null)} is not one of: ${
        fields.classes.join(", ")
      }`;
      return { reason: "bad_label", detail };
    }
    label = found;
  }
  return { image: s.files.get(ext)!, caption, label, ext };
}

/**
 * Streams the usable samples of `shards`, in order.
 *
 * @param shards Shard paths.
 * @param at Field mapping, bad-input `log`, and shard → index offset (filled by a counting pass).
 */
export async function* shardSamples(
  shards: readonly string[],
  at: { fields: WdsFields; log: BadInputLog; offsets: ReadonlyMap<string, number> },
): AsyncGenerator<StreamSample> {
  for (const shard of shards) {
    let ordinal = 0;
    try {
      // The shard's identity as read (the decoded-image cache keys its members by it).
      const stat = fileStamp(Deno.statSync(shard));
      for await (const s of readTarSamples(shard)) {
        const where = `${shard}:${s.key}`;
        const f = sampleFields(s, at.fields);
        if ("reason" in f) {
          at.log.report({ path: where, ...f });
          continue;
        }
        const index = (at.offsets.get(shard) ?? 0) + ordinal++;
        const { ext, ...fields } = f;
        yield { ...fields, index, where, origin: { path: shard, member: `${s.key}.${ext}`, stat } };
      }
    } catch (e) {
      if (e instanceof BadInputError) throw e;
      at.log.report({ path: shard, reason: "bad_member", detail: (e as Error).message });
    }
  }
}
