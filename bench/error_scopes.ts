/**
 * What WebGPU error checking costs a training step: the ViT-tiny LoRA step of the benchmark (feed, run,
 * loss read back, as a run does when it logs every step), on a device whose errors are recorded (error
 * scopes around every write, submission and readback; src/gpu/errors.ts) and on one that is not. Blocks
 * alternate so the machine's load falls on both alike.
 *
 * ```sh
 * deno run -A bench/error_scopes.ts [blocks] [steps per block]
 * ```
 */
import "../src/graph/ops/mod.ts";
import type { TrainStep } from "../src/compile/train_step.ts";
import { gpu, limitRecord } from "../src/gpu/device.ts";
import { workloadStep } from "./mixtune.ts";
import { makeInit, median, WORKLOAD } from "./peers/workload.ts";

/** The ViT-tiny workload's step on `device`, with the peers' initial values and batch. */
function step(device: GPUDevice): Promise<TrainStep> {
  return workloadStep(WORKLOAD, 1, "f32", device);
}

const blocks = Number(Deno.args[0] ?? 6);
const steps = Number(Deno.args[1] ?? 20);
const watched = (await gpu()).device;
const adapter = (await navigator.gpu.requestAdapter())!;
// a second device, never watched: `scoped` runs its calls bare and `read` checks nothing
const bare = await adapter.requestDevice({ requiredLimits: limitRecord(adapter.limits) });
const w = WORKLOAD;
const init = makeInit(1, w);
const batch = {
  x: init.images,
  labels: Float32Array.from(init.labels),
  weights: new Float32Array(w.batch).fill(1),
  domains: new Float32Array(w.batch).fill(1),
};
const runs = { checked: await step(watched), bare: await step(bare) };
const times: Record<keyof typeof runs, number[]> = { checked: [], bare: [] };
for (let b = 0; b < blocks; b++) {
  for (const k of (b % 2 ? ["bare", "checked"] : ["checked", "bare"]) as (keyof typeof runs)[]) {
    const s = runs[k];
    for (let i = 0; i < steps + 2; i++) {
      const t0 = performance.now();
      s.feed(batch);
      s.run(w.lr);
      await s.drainMetrics();
      if (i >= 2) times[k].push(performance.now() - t0);
    }
  }
}
const scopeCalls = 10000;
const t0 = performance.now();
const { scoped } = await import("../src/gpu/errors.ts");
for (let i = 0; i < scopeCalls; i++) scoped(watched, "nothing", () => {});
const { checkDevice } = await import("../src/gpu/errors.ts");
await checkDevice(watched);
const perScope = (performance.now() - t0) / scopeCalls * 1000;
const m = { checked: median(times.checked), bare: median(times.bare) };
console.log(
  `${(await gpu()).adapter.description}: ViT-tiny LoRA step (feed + run + loss read back), median of ` +
    `${times.checked.length} steps: with error scopes ${m.checked.toFixed(2)} ms, without ${
      m.bare.toFixed(2)
    } ms (${(m.checked - m.bare).toFixed(3)} ms); one scoped() call alone: ${perScope.toFixed(1)} us`,
);
for (const s of Object.values(runs)) s.destroy();
bare.destroy();
