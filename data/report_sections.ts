/**
 * Section extraction from free-text radiology reports (MIMIC-CXR style):
 *
 * ```
 *                                  FINAL REPORT
 *  EXAMINATION:  CHEST (PA AND LAT)
 *  INDICATION:  ___F with cough
 *  FINDINGS:
 *  No focal consolidation, pleural effusion or pneumothorax.
 *  IMPRESSION:
 *  No acute cardiopulmonary process.
 * ```
 *
 * **Headers.** A header is an upper-case name at the start of a line followed
 * by a colon (`IMPRESSION:`); its text runs to the next header. Text before the
 * first header is the `preamble`. Names are normalised as the official
 * MIMIC-CXR `section_parser.py` does: `CONCLUSION`, `FINDINGS AND IMPRESSION`,
 * `FINDINGS/IMPRESSION` and common misspellings (`IMPRESSON`, …) count as
 * `impression`; `FINDING` and misspellings as `findings`. A section met twice
 * is joined.
 *
 * **Which text.** `section` picks the caption: `impression` (NOVA's choice),
 * `findings`, `findings_impression` (both, findings first) or `full` (every
 * section but the preamble). When the wanted section is absent or empty, the
 * `fallback` list is tried in order: `findings`, `impression`,
 * `last_paragraph` (the last non-empty paragraph, blank-line separated — the
 * official MIMIC-CXR rule's last resort). Default: `impression`, falling back
 * to `findings`, then `last_paragraph`. Whitespace is collapsed; nothing else
 * is changed (de-identification marks `___` stay). An empty result is an
 * empty caption (a bad input).
 *
 * @module
 */

/** Which part of a report becomes the caption. */
export type ReportSection = "impression" | "findings" | "findings_impression" | "full";

/** What to try when the wanted section is missing. */
export type ReportFallback = "findings" | "impression" | "last_paragraph";

/** Options of {@link extractReportText}. */
export interface ReportTextOptions {
  /** The wanted section. */
  section: ReportSection;
  /** Tried in order when the section is missing or empty. */
  fallback: ReportFallback[];
}

/** The default: impression, else findings, else the last paragraph. */
export const DEFAULT_REPORT_TEXT: ReportTextOptions = {
  section: "impression",
  fallback: ["findings", "last_paragraph"],
};

const ALIASES: Record<string, string> = {
  "conclusion": "impression",
  "conclusions": "impression",
  "impressions": "impression",
  "findings and impression": "impression",
  "findings/impression": "impression",
  "findings/ impression": "impression",
  "impression and findings": "impression",
  "impresson": "impression",
  "imprression": "impression",
  "imoression": "impression",
  "impressoin": "impression",
  "imprssion": "impression",
  "impresion": "impression",
  "imperssion": "impression",
  "mpression": "impression",
  "impession": "impression",
  "finding": "findings",
  "findins": "findings",
  "findindgs": "findings",
  "findgings": "findings",
  "findngs": "findings",
  "findnings": "findings",
  "finidngs": "findings",
  "reference findings": "findings",
  "chest, two views": "findings",
  "comparisons": "comparison",
  "clinical history": "history",
  "reason for examination": "indication",
  "reason for exam": "indication",
  "clinical indication": "indication",
  "exam": "examination",
  "recommendation(s)": "recommendations",
  "wetread": "wet read",
};

const HEADER = /^[ \t]*([A-Z][A-Z ()/,&-]{0,60}?)[ \t]*:(.*)$/;

/** Collapses runs of whitespace to one space and trims. */
export function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The normalised name of a header (`CONCLUSION` → `impression`). */
export function normalizeSectionName(header: string): string {
  const key = header.trim().toLowerCase().replace(/\s+/g, " ");
  return ALIASES[key] ?? key;
}

/**
 * Splits a report into sections, normalised name → collapsed text (repeated
 * sections joined with a space); text before the first header is `preamble`.
 *
 * @param report The report text.
 */
export function reportSections(report: string): Map<string, string> {
  const parts = new Map<string, string[]>();
  let current = "preamble";
  for (const line of report.replace(/\r\n?/g, "\n").split("\n")) {
    const m = HEADER.exec(line);
    if (m) {
      current = normalizeSectionName(m[1]!);
      if (!parts.has(current)) parts.set(current, []);
      parts.get(current)!.push(m[2]!);
    } else {
      if (!parts.has(current)) parts.set(current, []);
      parts.get(current)!.push(line);
    }
  }
  const out = new Map<string, string>();
  for (const [name, lines] of parts) out.set(name, collapseWhitespace(lines.join("\n")));
  return out;
}

/** The last non-empty blank-line-separated paragraph that is not just a header. */
export function lastParagraph(report: string): string {
  const paragraphs = report.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/)
    .map((p) => {
      const m = HEADER.exec(p.trim());
      return collapseWhitespace(m && !p.trim().includes("\n") ? m[2]! : p);
    })
    .filter((p) => p !== "");
  return paragraphs.at(-1) ?? "";
}

function pick(sections: Map<string, string>, section: ReportSection): string {
  const get = (name: string) => sections.get(name) ?? "";
  switch (section) {
    case "impression":
      return get("impression");
    case "findings":
      return get("findings");
    case "findings_impression":
      return collapseWhitespace(`${get("findings")} ${get("impression")}`);
    case "full":
      return collapseWhitespace(
        [...sections].filter(([k]) => k !== "preamble").map(([, v]) => v).join(" "),
      );
  }
}

/**
 * The caption text of a report under the section and fallback rules (see the module doc).
 *
 * @param report The report text.
 * @param options Section and fallback (default {@link DEFAULT_REPORT_TEXT}).
 * @returns The text, or `""` when nothing usable was found.
 */
export function extractReportText(
  report: string,
  options: ReportTextOptions = DEFAULT_REPORT_TEXT,
): string {
  const sections = reportSections(report);
  const first = pick(sections, options.section);
  if (first) return first;
  for (const fb of options.fallback) {
    const text = fb === "last_paragraph" ? lastParagraph(report) : pick(sections, fb);
    if (text) return text;
  }
  return "";
}
