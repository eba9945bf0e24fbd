/**
 * Opens generated reports in headless Chromium and checks, in the browser's own layout, that every chart's
 * SVG has data marks with non-empty geometry and that the page loads nothing from outside. Saves screenshots.
 * Skips when Chromium is missing, except under CI=true, where a missing Chromium fails the test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeComparison, writeReport } from "../src/report/mod.ts";
import { writeFixtureRun } from "./report_fixture.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
const CI = Deno.env.get("CI") === "true";
const SKIP = !HAVE_CHROMIUM && !CI;
if (SKIP) console.warn(`report browser tests skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);

/** What the probe script reports from inside the page. */
interface Probe {
  figures: { title: string; svgWidth: number; marks: number; drawn: number }[];
  resources: string[];
}

// Test-only script appended to a copy of the page: the report itself carries no scripts.
const PROBE = `<script>
(() => {
  const figures = [...document.querySelectorAll("figure.chart")].map((f) => {
    const svg = f.querySelector("svg");
    const items = [...f.querySelectorAll("g.role-mark > path, g.role-mark > line")];
    const drawn = items.filter((el) => { const b = el.getBBox(); return b.width > 0 || b.height > 0; });
    return {
      title: f.querySelector("figcaption").textContent,
      svgWidth: svg ? svg.getBoundingClientRect().width : 0,
      marks: items.length,
      drawn: drawn.length,
    };
  });
  const resources = performance.getEntriesByType("resource").map((e) => e.name);
  const out = document.createElement("pre");
  out.id = "probe";
  out.style.display = "none";
  out.textContent = encodeURIComponent(JSON.stringify({ figures, resources }));
  document.body.append(out);
})();
</script>`;

/** Loads `page` in Chromium; returns the probe's findings and writes a screenshot to `screenshot`. */
async function probe(page: string, screenshot: string, profile: string): Promise<Probe> {
  const html = await Deno.readTextFile(page);
  const probed = page.replace(/\.html$/, ".probe.html");
  await Deno.writeTextFile(probed, html.replace("</body>", `${PROBE}\n</body>`));
  const { code, stdout, stderr } = await new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      "--hide-scrollbars",
      "--window-size=1280,2400",
      `--screenshot=${screenshot}`,
      "--dump-dom",
      `file://${probed}`,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const dom = new TextDecoder().decode(stdout);
  const found = dom.match(/<pre id="probe"[^>]*>([^<]*)<\/pre>/);
  if (code !== 0 || found === null) {
    throw new Error(
      `chromium exited ${code} without the probe's output; stderr:\n${new TextDecoder().decode(stderr)}`,
    );
  }
  return JSON.parse(decodeURIComponent(found[1]));
}

async function assertPng(path: string, width: number): Promise<void> {
  const bytes = await Deno.readFile(path);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(16), width);
  assert.ok(bytes.length > 20_000, `screenshot ${path} is only ${bytes.length} bytes`);
}

/** Checks each figure's title and its count of mark elements (one per line, dot, bar or box the data gives). */
function assertCharts(p: Probe, expected: [string, number][]): void {
  assert.deepEqual(p.figures.map((f) => [f.title, f.marks]), expected);
  for (const f of p.figures) {
    assert.ok(f.svgWidth > 100, `${f.title}: svg is ${f.svgWidth}px wide`);
    assert.equal(f.drawn, f.marks, `${f.title}: ${f.drawn} of ${f.marks} marks have geometry`);
  }
  assert.deepEqual(p.resources, []);
}

Deno.test({
  name: "writeReport() and writeComparison() pages render their charts in Chromium",
  ignore: SKIP,
  fn: async () => {
    if (!HAVE_CHROMIUM) {
      throw new Error(`${CHROMIUM} not found; CI=true needs it (apt-get install -y chromium)`);
    }
    const root = await Deno.makeTempDir({ prefix: "mixtune_report_browser_" });
    const shots = await Deno.makeTempDir({ prefix: "mixtune_report_screens_" });
    try {
      const dirs = [];
      for (const seed of [0, 1, 2]) dirs.push(await writeFixtureRun(root, { seed, steps: 100 }));
      const report = await probe(
        await writeReport(dirs[0]),
        join(shots, "report.png"),
        join(root, "profile1"),
      );
      // Marks per chart from the fixture: lines per series, dots per evaluation or schedule point, bars per bin.
      assertCharts(report, [
        ["Stages", 15], // 5 stage boxes, 5 dependency rules, 5 arrow heads
        ["Training loss", 1],
        ["Learning rate", 1],
        ["Training loss", 4], // total + 3 domains
        ["Validation loss", 9], // 3 lines + 3 domains x 2 evaluations
        ["Sampling probabilities", 3],
        ["Sampling temperature", 1],
        ["Learning rate", 1],
        ["Throughput", 1],
        ["Epochs per domain", 3],
        ["Training loss", 3], // total + hr + lr
        ["Planned sampling probabilities", 2], // one stepped line per domain
        ["Gate-weight distribution at step 100", 20], // 2 domains x 10 bins
        ["Mean gate weight", 6], // 2 lines + 2 domains x 2 gate records
      ]);
      await assertPng(join(shots, "report.png"), 1280);
      const comparison = await probe(
        await writeComparison(dirs),
        join(shots, "comparison.png"),
        join(root, "profile2"),
      );
      // A band and a mean line per series.
      assertCharts(comparison, [
        ["pretrain: training loss", 2],
        ["ft: training loss", 2],
        ["ft: validation loss", 6],
        ["petal: training loss", 2],
      ]);
      await assertPng(join(shots, "comparison.png"), 1280);
      console.log(`screenshots in ${shots}`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
