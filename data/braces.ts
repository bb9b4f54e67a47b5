/**
 * Brace expansion of shard lists, as WebDataset and the shell write them:
 * `shards-{000000..000099}.tar` (a numeric range; zero padding follows the
 * wider bound), `{0..10..2}` (with a step), `{train,val}-{0..1}.tar`
 * (alternatives, combined left to right), nested braces, and `\{` for a
 * literal brace. A brace with neither a comma nor a range stays as written.
 *
 * @module
 */

/** Index of the `}` closing the `{` at `open`, or -1. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/** Splits at top-level commas. */
function alternatives(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === "\\") i++;
    else if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

const RANGE = /^(-?\d+)\.\.(-?\d+)(?:\.\.(\d+))?$/;

function numericRange(body: string): string[] | undefined {
  const m = RANGE.exec(body);
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  const step = Number(m[3] ?? 1);
  if (step === 0) throw new Error(`brace range {${body}}: step must be > 0`);
  const padded = (s: string) => s.replace("-", "").length > 1 && /^-?0/.test(s);
  const width = padded(m[1]!) || padded(m[2]!)
    ? Math.max(m[1]!.replace("-", "").length, m[2]!.replace("-", "").length)
    : 0;
  const count = Math.floor(Math.abs(b - a) / step) + 1;
  if (count > 1_000_000) throw new Error(`brace range {${body}} expands to ${count} items (> 1e6)`);
  const dir = b >= a ? 1 : -1;
  return Array.from({ length: count }, (_, i) => {
    const v = a + dir * i * step;
    return (v < 0 ? "-" : "") + String(Math.abs(v)).padStart(width, "0");
  });
}

/**
 * Expands every brace group of `pattern` (see the module doc).
 *
 * @param pattern E.g. `data/shard-{000..002}.tar`.
 * @returns The expansions in order, e.g. `data/shard-000.tar`, `…-001.tar`, `…-002.tar`.
 */
export function expandBraces(pattern: string): string[] {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === "\\") {
      i++;
      continue;
    }
    if (pattern[i] !== "{") continue;
    const end = closing(pattern, i);
    if (end < 0) throw new Error(`shard pattern "${pattern}": "{" at ${i} is never closed`);
    const body = pattern.slice(i + 1, end);
    const alts = alternatives(body);
    const items = alts.length > 1 ? alts.flatMap(expandBraces) : numericRange(body);
    if (!items) continue; // a literal brace group
    const prefix = pattern.slice(0, i).replace(/\\([{}])/g, "$1");
    const rest = expandBraces(pattern.slice(end + 1));
    return items.flatMap((item) => rest.map((r) => prefix + item + r));
  }
  return [pattern.replace(/\\([{}])/g, "$1")];
}
