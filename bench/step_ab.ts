/**
 * The workload step of another tree (a checkout, or `git archive COMMIT | tar -x -C DIR`) against this one,
 * in one process, stepped alternately (the order flips every round), each step's loss read back. On a shared
 * machine only figures taken this way, side by side, are comparable: process CPU time and wall time per step,
 * their medians and ratios, and the largest relative difference between the two trees' losses.
 *
 * Run: XDG_RUNTIME_DIR=/tmp deno run -A bench/step_ab.ts OTHER_TREE [--rounds 30] [--warmup 3]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { median } from "./peers/workload.ts";

interface Side {
  root: string;
  step: { run(lr: number): void; drainMetrics(): Promise<{ loss: number }>; destroy(): void };
  dispatches: number;
  lr: number;
  cpu: number[];
  wall: number[];
  losses: number[];
}

async function side(root: string): Promise<Side> {
  const { workloadStep } = await import(`${root}/bench/mixtune.ts`);
  const { WORKLOAD } = await import(`${root}/bench/peers/workload.ts`);
  const step = await workloadStep(WORKLOAD);
  const dispatches = step.program.dispatches.length;
  return { root, step, dispatches, lr: WORKLOAD.lr, cpu: [], wall: [], losses: [] };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { rounds: { type: "string", default: "30" }, warmup: { type: "string", default: "3" } },
  });
  if (positionals.length !== 1) {
    console.error("usage: bench/step_ab.ts OTHER_TREE [--rounds 30] [--warmup 3]");
    Deno.exit(2);
  }
  const other = await Deno.realPath(positionals[0]).catch(() => {
    console.error(`step_ab: no such folder: ${positionals[0]}`);
    Deno.exit(2);
  });
  const sides = [await side(other), await side(new URL("..", import.meta.url).pathname.replace(/\/$/, ""))];
  const warmup = Number(values.warmup), rounds = Number(values.rounds);
  const load0 = Deno.loadavg()[0];
  for (let r = 0; r < warmup + rounds; r++) {
    for (const s of r % 2 ? [...sides].reverse() : sides) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      s.step.run(s.lr);
      s.losses.push((await s.step.drainMetrics()).loss);
      const c = process.cpuUsage(c0);
      if (r >= warmup) {
        s.cpu.push((c.user + c.system) / 1000);
        s.wall.push(performance.now() - t0);
      }
    }
  }
  for (const s of sides) {
    console.log(
      `${s.root}: ${s.dispatches} dispatches; CPU ms median ${median(s.cpu).toFixed(1)} (min ${
        Math.min(...s.cpu).toFixed(1)
      }), wall ms median ${median(s.wall).toFixed(1)} (min ${Math.min(...s.wall).toFixed(1)})`,
    );
    s.step.destroy();
  }
  const [a, b] = sides;
  const rel = a.losses.map((l, i) => Math.abs(l - b.losses[i]) / Math.abs(l));
  console.log(
    `other / this: CPU ${(median(a.cpu) / median(b.cpu)).toFixed(3)}x, wall ${
      (median(a.wall) / median(b.wall)).toFixed(3)
    }x (medians); load ${load0.toFixed(2)} -> ${Deno.loadavg()[0].toFixed(2)}; ` +
      `largest relative loss difference over ${rel.length} steps ${Math.max(...rel).toExponential(2)}`,
  );
}
