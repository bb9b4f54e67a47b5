/**
 * Streaming WebDataset samples out of a tar shard with `tar-stream`: members
 * are grouped by key — the member path up to the first dot of its file name
 * (`train/000123.jpg` and `train/000123.txt` → key `train/000123`, extensions
 * `jpg`, `txt`; `a.seg.png` → extension `seg.png`) — and a sample is the run
 * of consecutive members sharing a key. Only the current sample is held in
 * memory; the file is read as a stream.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import tar from "tar-stream";

/** One sample of a shard: its key and its files by (lower-case) extension. */
export interface TarSample {
  /** The shard it came from. */
  shard: string;
  /** The sample key. */
  key: string;
  /** Extension → file bytes. */
  files: Map<string, Uint8Array>;
}

const KEY_EXT = /^((?:.*\/|)[^./]+)\.([^/]*)$/;

/** `[key, extension]` of a member path, or `undefined` for a name without an extension. */
export function splitMemberName(name: string): [string, string] | undefined {
  const m = KEY_EXT.exec(name);
  return m ? [m[1]!, m[2]!.toLowerCase()] : undefined;
}

async function collect(entry: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const p of entry) {
    parts.push(p);
    size += p.length;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Streams the samples of one shard in file order. A missing, unreadable,
 * truncated or empty shard throws from the iteration (after the samples read
 * so far).
 *
 * @param shard Path of the `.tar` file.
 */
export async function* readTarSamples(shard: string): AsyncGenerator<TarSample> {
  const extract = tar.extract();
  const input = createReadStream(shard);
  input.on("error", (e: Error) => extract.destroy(e));
  input.pipe(extract);
  let current: TarSample | undefined, members = 0;
  try {
    for await (const entry of extract) {
      members++;
      const parts = entry.header.type === "file" ? splitMemberName(entry.header.name) : undefined;
      const bytes = await collect(entry as unknown as AsyncIterable<Uint8Array>);
      if (!parts || parts[0].split("/").at(-1)!.startsWith("__")) continue;
      const [key, ext] = parts;
      if (current && current.key !== key) {
        yield current;
        current = undefined;
      }
      current ??= { shard, key, files: new Map() };
      current.files.set(ext, bytes);
    }
    if (current) yield current;
    // An empty or zeroed file reads as a tar of nothing: report it, do not pass it as data.
    if (members === 0) throw new Error("the shard holds no tar members (empty, or zeros)");
  } finally {
    input.destroy();
    extract.destroy();
  }
}

/**
 * Writes a tar shard of samples (for fixtures and conversions): each sample's
 * files become members `key.ext`, in order.
 *
 * @param path The `.tar` file to write.
 * @param samples Samples as `{ key, files: { ext: bytes | text } }`.
 */
export async function writeTarShard(
  path: string,
  samples: readonly { key: string; files: Record<string, Uint8Array | string> }[],
): Promise<void> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Uint8Array);
  })();
  for (const s of samples) {
    for (const [ext, data] of Object.entries(s.files)) {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      pack.entry({ name: `${s.key}.${ext}`, size: bytes.length }, bytes);
    }
  }
  pack.finalize();
  await done;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  await Deno.writeFile(path, out);
}
