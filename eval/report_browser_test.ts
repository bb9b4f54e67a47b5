/**
 * Renders a real report in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) and checks that every chart is present and drawn.
 *
 * Needs `/usr/bin/chromium` (`apt-get install -y chromium`) and the permissions
 * `--allow-run=/usr/bin/chromium --allow-sys=homedir` (plus read/write/env);
 * without them the test is skipped with the reason printed.
 */
import assert from "node:assert/strict";
import { writeReport } from "./report.ts";
import { reportFixture } from "./report_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/** Why the browser test cannot run here, or undefined when it can. */
function skipReason(): string | undefined {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    return `${CHROMIUM} not found (install it: apt-get install -y chromium)`;
  }
  const run = Deno.permissions.querySync({ name: "run", command: CHROMIUM }).state;
  const sys = Deno.permissions.querySync({ name: "sys", kind: "homedir" }).state;
  if (run !== "granted" || sys !== "granted") {
    return `needs --allow-run=${CHROMIUM} --allow-sys=homedir (run: ${run}, sys: ${sys})`;
  }
  return undefined;
}

const reason = skipReason();
if (reason) console.warn(`report_browser_test skipped: ${reason}`);

/** What the page reports about its charts. */
interface ChartCheck {
  figures: number;
  svgs: number;
  drawnPaths: number[];
  points: number;
  tables: number;
}

/** Runs in the page (a string: this file is type-checked without the DOM library). */
const PAGE_CHECK = `(() => {
  const figures = [...document.querySelectorAll("figure.plot")];
  const marks = "svg .role-mark path, svg .role-mark rect, svg .role-mark line";
  const drawn = figures.map((f) => [...f.querySelectorAll(marks)]
    .map((el) => el.getBBox()).filter((b) => b.width > 0 || b.height > 0).length);
  return {
    figures: figures.length,
    svgs: document.querySelectorAll("figure.plot > svg").length,
    drawnPaths: drawn,
    points: document.querySelectorAll('[data-plot="embeddings"] .mark-symbol.role-mark path').length,
    tables: document.querySelectorAll("table").length,
  };
})()`;

Deno.test({
  name: "report.html opens in headless Chromium with every chart drawn and no console errors",
  ignore: reason !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "novalab-report-browser-" });
    const files = await writeReport(dir, reportFixture());
    // playwright-core's is-wsl probe reads /proc/sys/fs/binfmt_misc/WSLInterop on import,
    // which Deno allows only under --allow-all; this variable defers the probe (only its
    // `open`-a-URL helper, unused here, would consult it).
    Deno.env.set("__IS_WSL_TEST__", "1");
    const { chromium } = await import("playwright-core");
    Deno.env.delete("__IS_WSL_TEST__");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("request", (r) => !r.url().startsWith("file:") && errors.push(`network: ${r.url()}`));
      await page.goto(`file://${files.html}`, { waitUntil: "load" });
      const check = await page.evaluate(PAGE_CHECK) as ChartCheck;
      const shot = `${dir}/report.png`;
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report screenshot: ${shot}`);
      assert.deepEqual(errors, [], "no console errors, no network requests");
      assert.equal(check.figures, files.svgs.length);
      assert.equal(check.svgs, files.svgs.length);
      check.drawnPaths.forEach((n, i) =>
        assert.ok(n > 0, `chart ${files.svgs[i]} has drawn marks`)
      );
      // Two panels × (150 images + 150 texts).
      assert.equal(check.points, 600);
      assert.ok(check.tables >= 4, `${check.tables} tables`);
      assert.ok((await Deno.stat(shot)).size > 10_000, "a real screenshot");
    } finally {
      await browser.close();
    }
  },
});
