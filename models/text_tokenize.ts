/**
 * The lexical side of static word-vector text towers: word tokenisation
 * (lowercase, split on every character that is not a letter or a digit, so
 * `don't` → `don`, `t`) and the lookup of words in a wink word-vector table.
 *
 * @module
 */

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * Splits `text` into lowercase words of letters and digits.
 *
 * @param text Any string (a caption, a prompt).
 * @returns The words in order, repeats kept (e.g. `"A 7-day trip!"` → `["a", "7", "day", "trip"]`).
 */
export function tokenizeWords(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/**
 * Scans a wink-embeddings JSON table (`{ …, vectors: { word: [D floats, l2norm,
 * index] } }`) for `words` without parsing the whole file.
 *
 * @param path The JSON file.
 * @param options `words` to find and the vector `dimensions`.
 * @returns The first `dimensions` floats of every word found.
 */
export function scanWinkTable(
  path: string,
  options: { words: ReadonlySet<string>; dimensions: number },
): Map<string, Float32Array> {
  const text = Deno.readTextFileSync(path);
  const start = text.indexOf('"vectors":{');
  if (start < 0) {
    throw new Error(`word-vector table "${path}" has no "vectors" object; is it a wink table?`);
  }
  const entry = /"((?:[^"\\]|\\.)*)":\[([^\]]*)\]/g;
  entry.lastIndex = start + 11;
  const found = new Map<string, Float32Array>();
  for (let m = entry.exec(text); m && found.size < options.words.size; m = entry.exec(text)) {
    const word = m[1].includes("\\") ? JSON.parse(`"${m[1]}"`) as string : m[1];
    if (!options.words.has(word)) continue;
    const values = m[2].split(",", options.dimensions).map(Number);
    if (values.length !== options.dimensions || values.some((v) => !Number.isFinite(v))) {
      throw new Error(
        `word-vector table "${path}": entry "${word}" has no ${options.dimensions} finite numbers`,
      );
    }
    found.set(word, Float32Array.from(values));
  }
  return found;
}
