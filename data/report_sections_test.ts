import assert from "node:assert/strict";
import { mimicReport } from "./fixtures.ts";
import {
  extractReportText,
  lastParagraph,
  normalizeSectionName,
  reportSections,
} from "./report_sections.ts";

const full = mimicReport({
  findings: "There is no focal consolidation.\n  Heart size is normal.",
  impression: "No acute cardiopulmonary\n process.",
});

Deno.test("report_sections: MIMIC-style report splits into normalised sections", () => {
  const s = reportSections(full);
  assert.equal(s.get("preamble"), "FINAL REPORT");
  assert.equal(s.get("examination"), "CHEST (PA AND LAT)");
  assert.equal(s.get("indication"), "___F with cough // eval for pneumonia");
  assert.equal(s.get("findings"), "There is no focal consolidation. Heart size is normal.");
  assert.equal(s.get("impression"), "No acute cardiopulmonary process.");
  assert.equal(normalizeSectionName("CONCLUSION"), "impression");
  assert.equal(normalizeSectionName("FINDINGS  AND IMPRESSION"), "impression");
  assert.equal(normalizeSectionName("IMPRESSON"), "impression");
  assert.equal(normalizeSectionName("FINDING"), "findings");
  assert.equal(normalizeSectionName("CLINICAL HISTORY"), "history");
});

Deno.test("report_sections: impression first, then the documented fallbacks", () => {
  assert.equal(extractReportText(full), "No acute cardiopulmonary process.");
  const noImpression = mimicReport({ findings: "Small left effusion." });
  assert.equal(extractReportText(noImpression), "Small left effusion.");
  const bare =
    "  WET READ: ___ 3:15 PM\n\nPortable chest.\n\nLines and tubes unchanged.\n  Mild edema.\n";
  assert.equal(extractReportText(bare), "Lines and tubes unchanged. Mild edema.");
  assert.equal(lastParagraph("FINDINGS:\n\nClear lungs.\n\nIMPRESSION:\n"), "Clear lungs.");
  assert.equal(
    extractReportText(noImpression, { section: "impression", fallback: [] }),
    "",
    "no fallback: missing impression is an empty caption",
  );
  assert.equal(
    extractReportText("CONCLUSION: Stable.\nFINDINGS: Clear.", {
      section: "impression",
      fallback: [],
    }),
    "Stable.",
  );
  assert.equal(extractReportText("   \n \n"), "");
});

Deno.test("report_sections: findings, findings_impression, full and repeated sections", () => {
  const opts = (section: "findings" | "findings_impression" | "full") => ({
    section,
    fallback: [] as [],
  });
  assert.equal(
    extractReportText(full, opts("findings")),
    "There is no focal consolidation. Heart size is normal.",
  );
  assert.equal(
    extractReportText(full, opts("findings_impression")),
    "There is no focal consolidation. Heart size is normal. No acute cardiopulmonary process.",
  );
  assert.match(extractReportText(full, opts("full")), /^CHEST \(PA AND LAT\) ___F .* process\.$/);
  const twice = "IMPRESSION: One.\nADDENDUM: late.\nIMPRESSION: Two.";
  assert.equal(extractReportText(twice), "One. Two.");
  assert.equal(reportSections("a\r\nIMPRESSION:\r\nok\r\n").get("impression"), "ok");
  // Mixed-case words followed by a colon are not headers.
  assert.equal(
    extractReportText("IMPRESSION: Compared to prior: no change."),
    "Compared to prior: no change.",
  );
});
