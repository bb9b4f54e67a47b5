/**
 * Row filters of manifests and metadata tables, written as short strings in
 * a recipe:
 *
 * - `ViewPosition in [PA, AP]` — the column's value is one of the listed values;
 * - `ViewPosition not in [LATERAL, LL]`;
 * - `split == train`, `split != test`.
 *
 * Values are compared as trimmed strings; quote a value that contains `,` `[`
 * or `]` (`label in ["a, b", c]`). A row passes when it passes every filter.
 *
 * @module
 */

/** A parsed filter. */
export interface RowFilter {
  /** The text it was parsed from. */
  text: string;
  /** Column name. */
  column: string;
  /** Whether the value must (true) or must not (false) be among `values`. */
  include: boolean;
  /** The values compared with. */
  values: string[];
}

const FORM = /^\s*(.+?)\s+(not\s+in|in|==|!=)\s+(.+?)\s*$/;

function unquote(value: string): string {
  const v = value.trim();
  const q = v[0];
  return (q === '"' || q === "'") && v.endsWith(q) && v.length >= 2 ? v.slice(1, -1) : v;
}

/** Splits `a, "b, c", d` at commas outside quotes. */
function splitList(body: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quote = "";
  for (const ch of body) {
    if (quote) {
      if (ch === quote) quote = "";
      current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
    } else if (ch === ",") {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return body.trim() === "" ? [] : parts.map(unquote);
}

/**
 * Parses one filter string; a malformed one is an error naming the accepted forms.
 *
 * @param text E.g. `ViewPosition in [PA, AP]`.
 */
export function parseFilter(text: string): RowFilter {
  const m = FORM.exec(text);
  const fail = (why: string): never => {
    throw new Error(
      `filter "${text}": ${why}; expected "<column> in [a, b]", "<column> not in [a, b]", ` +
        `"<column> == value" or "<column> != value"`,
    );
  };
  if (!m) return fail("no operator found");
  const [, column, op, rest] = m as unknown as [string, string, string, string];
  const list = op.replace(/\s+/, " ") === "not in" || op === "in";
  if (list) {
    if (!rest.startsWith("[") || !rest.endsWith("]")) return fail(`"${op}" needs a [list]`);
    const values = splitList(rest.slice(1, -1));
    if (values.length === 0) return fail("empty list");
    return { text, column: unquote(column), include: op === "in", values };
  }
  return { text, column: unquote(column), include: op === "==", values: [unquote(rest)] };
}

/**
 * Checks that every filter's column exists; an unknown column is an error listing the columns.
 *
 * @param filters Parsed filters.
 * @param options `columns` of the table and `file` for the message.
 */
export function checkFilterColumns(
  filters: readonly RowFilter[],
  options: { columns: readonly string[]; file: string },
): void {
  for (const f of filters) {
    if (!options.columns.includes(f.column)) {
      throw new Error(
        `filter "${f.text}": column "${f.column}" is not in ${options.file}; ` +
          `expected one of: ${options.columns.join(", ")}`,
      );
    }
  }
}

/**
 * Whether `row` passes every filter.
 *
 * @param row Column → value (missing columns read as `""`).
 * @param filters Parsed filters.
 */
export function passesFilters(
  row: Readonly<Record<string, unknown>>,
  filters: readonly RowFilter[],
): boolean {
  return filters.every((f) => {
    const value = String(row[f.column] ?? "").trim();
    return f.values.includes(value) === f.include;
  });
}
