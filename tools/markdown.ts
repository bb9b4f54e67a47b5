/**
 * Markdown building blocks for generated docs, written the way `deno fmt`
 * writes Markdown (tables padded to their widest cell, prose wrapped at the
 * configured line width), so a generated file passes `deno fmt --check`
 * unchanged.
 *
 * @module
 */

/** The `fmt.lineWidth` of `deno.json`: prose is wrapped at this many columns. */
export const LINE_WIDTH = 100;

/** Display width of `text` as the formatter counts it (one column per code point). */
function width(text: string): number {
  return [...text].length;
}

/** Escapes `|` so a value can sit in a table cell; newlines become spaces. */
export function cell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

/** Inline code for `text`, with a fence longer than any backtick run inside it. */
export function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

/**
 * A Markdown table with every column padded to its widest cell (at least
 * three columns wide, as the separator row needs).
 *
 * @param header Column titles.
 * @param rows Cells, already escaped with {@link cell} where needed.
 */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) =>
    Math.max(3, width(h), ...rows.map((row) => width(row[c] ?? "")))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((text, c) => text + " ".repeat(widths[c]! - width(text))).join(" | ")} |`;
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map((row) => line(header.map((_, c) => row[c] ?? ""))),
  ].join("\n");
}

/**
 * Wraps prose greedily at {@link LINE_WIDTH} columns, breaking only at
 * spaces outside inline code (a code span is never split across lines).
 *
 * @param text One paragraph (newlines are treated as spaces).
 * @param prefix Written before the first line (e.g. `"- "`); later lines are
 *   indented by its width.
 */
export function wrap(text: string, prefix = ""): string {
  const words = splitWords(text.replace(/\s+/g, " ").trim());
  const indent = " ".repeat(width(prefix));
  const lines: string[] = [];
  let current = prefix;
  let empty = true;
  for (const word of words) {
    if (!empty && width(current) + 1 + width(word) > LINE_WIDTH) {
      lines.push(current);
      current = indent + word;
    } else {
      current += (empty ? "" : " ") + word;
    }
    empty = false;
  }
  lines.push(current);
  return lines.join("\n");
}

/** Words of `text`, keeping every inline code span (with its spaces) inside one word. */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let fence = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "`") {
      let run = 1;
      while (text[i + run] === "`") run++;
      if (fence === 0) fence = run;
      else if (run === fence) fence = 0;
      word += "`".repeat(run);
      i += run - 1;
    } else if (ch === " " && fence === 0) {
      if (word) words.push(word);
      word = "";
    } else {
      word += ch;
    }
  }
  if (word) words.push(word);
  return words;
}
