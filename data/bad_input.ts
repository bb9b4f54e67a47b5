/**
 * The bad-input policy of file-backed sources. Every unusable input — a
 * missing file, an image that does not decode (truncated JPEG), an
 * unreadable CSV row, an empty caption — is reported to a {@link BadInputLog}:
 *
 * - `fail`: stop at once with a {@link BadInputError} naming the file, the
 *   reason and the detail;
 * - `skip`: count it (once per file and reason, however often it is met),
 *   keep the first offending paths, and go on. {@link BadInputLog.summary}
 *   returns a JSON-ready {@link BadInputSummary} for the run directory, and
 *   {@link formatBadInputSummary} a line for the console.
 *
 * @module
 */

/** What a source does with an unusable input. */
export type BadInputPolicy = "skip" | "fail";

/** Why an input was unusable. */
export type BadInputReason =
  | "missing_file"
  | "decode_error"
  | "bad_row"
  | "empty_caption"
  | "bad_label"
  | "bad_member";

/** The valid policies, for messages and schemas. */
export const BAD_INPUT_POLICIES: readonly BadInputPolicy[] = ["skip", "fail"];

/** One unusable input. */
export interface BadInputRecord {
  /** The file (or `file:line` for a manifest row, `shard.tar:member` for a tar member). */
  path: string;
  /** Why it was unusable. */
  reason: BadInputReason;
  /** What exactly went wrong (the decoder's or parser's message). */
  detail: string;
}

/** What a source skipped: counts by reason and the first offending inputs. */
export interface BadInputSummary {
  /** Source name. */
  source: string;
  /** The policy in force. */
  policy: BadInputPolicy;
  /** Distinct unusable inputs. */
  total: number;
  /** Counts by reason. */
  by_reason: Partial<Record<BadInputReason, number>>;
  /** The first offending inputs, in the order they were met. */
  first: BadInputRecord[];
}

/** Thrown under the `fail` policy at the first unusable input. */
export class BadInputError extends Error {
  /** Creates the error for `record` met by `source`. */
  constructor(readonly source: string, readonly record: BadInputRecord) {
    super(
      `${source}: bad input ${record.path} (${record.reason.replace("_", " ")}): ` +
        `${record.detail}. The source's bad_input policy is "fail"; fix or remove the file, ` +
        `or set bad_input: skip to count and skip such inputs`,
    );
    this.name = "BadInputError";
  }
}

/** Collects unusable inputs under a policy (see the module doc). */
export class BadInputLog {
  readonly #seen = new Set<string>();
  readonly #counts: Partial<Record<BadInputReason, number>> = {};
  readonly #first: BadInputRecord[] = [];

  /**
   * Creates an empty log.
   *
   * @param source Source name, for messages.
   * @param options `policy` and `keep`, how many offending inputs the summary lists (default 20).
   */
  constructor(
    readonly source: string,
    readonly options: { policy: BadInputPolicy; keep?: number },
  ) {}

  /** Reports an unusable input: throws under `fail`, counts it (once) under `skip`. */
  report(record: BadInputRecord): void {
    if (this.options.policy === "fail") throw new BadInputError(this.source, record);
    const key = `${record.reason}\u0000${record.path}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#counts[record.reason] = (this.#counts[record.reason] ?? 0) + 1;
    if (this.#first.length < (this.options.keep ?? 20)) this.#first.push(record);
  }

  /** Distinct unusable inputs so far. */
  get total(): number {
    return this.#seen.size;
  }

  /** A JSON-ready summary (write it into the run directory, e.g. `data_issues.json`). */
  summary(): BadInputSummary {
    return {
      source: this.source,
      policy: this.options.policy,
      total: this.total,
      by_reason: { ...this.#counts },
      first: [...this.#first],
    };
  }
}

/**
 * A one-paragraph console summary, or `""` when nothing was skipped.
 *
 * @param summary From {@link BadInputLog.summary}.
 * @param options `show`: how many offending paths to list (default 5).
 */
export function formatBadInputSummary(
  summary: BadInputSummary,
  options: { show?: number } = {},
): string {
  if (summary.total === 0) return "";
  const reasons = Object.entries(summary.by_reason).map(([r, n]) => `${n} ${r.replace("_", " ")}`);
  const shown = summary.first.slice(0, options.show ?? 5)
    .map((r) => `  ${r.path}: ${r.detail}`);
  return [
    `${summary.source}: skipped ${summary.total} bad input(s) (${reasons.join(", ")}); first:`,
    ...shown,
  ].join("\n");
}

/**
 * The bad-input summary of any data source that keeps one (the file-backed
 * kinds expose `badInputs()`), or `undefined` (e.g. IDX sources). Write it to
 * the run directory (`data_issues.json`) when `total > 0`.
 *
 * @param source Any data source.
 */
export function badInputSummaryOf(source: object): BadInputSummary | undefined {
  const s = source as { badInputs?: () => BadInputSummary };
  return typeof s.badInputs === "function" ? s.badInputs() : undefined;
}
