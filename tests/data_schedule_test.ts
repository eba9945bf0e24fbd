import assert from "node:assert/strict";
import {
  checkSchedule,
  cooldownSchedule,
  phaseBoundaries,
  temperatureAt,
  type TemperatureSchedule,
} from "../src/data/mix/schedule.ts";

const over = (schedule: TemperatureSchedule, steps: number): number[] =>
  Array.from({ length: steps }, (_, s) => temperatureAt(schedule, s, steps));

Deno.test("temperatureAt() switches a step schedule exactly at round(until * steps)", () => {
  // Cooldown over 10 steps: the switch is at round(0.5 * 10) = 5.
  assert.deepEqual(over(cooldownSchedule(), 10), [5, 5, 5, 5, 5, 1, 1, 1, 1, 1]);
  // Over 7 steps: round(3.5) = 4, so steps 0..3 use T = 5 and 4..6 use T = 1.
  assert.deepEqual(over(cooldownSchedule(), 7), [5, 5, 5, 5, 1, 1, 1]);
  const three: TemperatureSchedule = {
    kind: "step",
    phases: [{ until: 0.25, temperature: 10 }, { until: 0.75, temperature: 3 }, { until: 1, temperature: 1 }],
  };
  assert.deepEqual(phaseBoundaries(three.kind === "step" ? three.phases : [], 8), [2, 6, 8]);
  assert.deepEqual(over(three, 8), [10, 10, 3, 3, 3, 3, 1, 1]);
  const t = over(cooldownSchedule(), 1000);
  assert.equal(t.indexOf(1), 500);
  assert.equal(t[499], 5);
});

Deno.test("temperatureAt() runs linear and cosine schedules from the first to the last step", () => {
  assert.deepEqual(over({ kind: "linear", from: 5, to: 1 }, 5), [5, 4, 3, 2, 1]);
  const cosine = over({ kind: "cosine", from: 5, to: 1 }, 3);
  assert.deepEqual(cosine.map((v) => Math.round(v * 1e12) / 1e12), [5, 3, 1]);
  assert.deepEqual(over({ kind: "constant", temperature: 2 }, 3), [2, 2, 2]);
  assert.deepEqual(over({ kind: "linear", from: 5, to: 1 }, 1), [5]);
});

Deno.test("invalid schedules and steps throw MixError with exact messages", () => {
  const cases: [() => unknown, string][] = [
    [
      () =>
        checkSchedule({
          kind: "step",
          phases: [{ until: 0.6, temperature: 5 }, { until: 0.5, temperature: 1 }],
        }),
      "phases[1].until must be in (0.6, 1] (fractions must increase), found 0.5",
    ],
    [
      () =>
        checkSchedule({ kind: "step", phases: [{ until: 0, temperature: 5 }, { until: 1, temperature: 1 }] }),
      "phases[0].until must be in (0, 1] (fractions must increase), found 0",
    ],
    [
      () =>
        checkSchedule({
          kind: "step",
          phases: [{ until: 0.5, temperature: 5 }, { until: 1.5, temperature: 1 }],
        }),
      "phases[1].until must be in (0.5, 1] (fractions must increase), found 1.5",
    ],
    [
      () => checkSchedule({ kind: "step", phases: [{ until: 0.5, temperature: 5 }] }),
      "the last phase must end at until: 1, found 0.5",
    ],
    [() => checkSchedule({ kind: "step", phases: [] }), "step schedule needs at least one phase, found none"],
    [
      () => checkSchedule({ kind: "step", phases: [{ until: 1, temperature: 0 }] }),
      "phases[0].temperature must be a positive finite number, found 0",
    ],
    [
      () => checkSchedule({ kind: "constant", temperature: -2 }),
      "schedule temperature must be a positive finite number, found -2",
    ],
    [
      () => checkSchedule({ kind: "linear", from: 5, to: 0 }),
      'linear schedule "to" must be a positive finite number, found 0',
    ],
    [
      () => checkSchedule({ kind: "exp" } as never),
      'schedule kind must be "constant", "step", "linear" or "cosine", found "exp"',
    ],
    [() => temperatureAt(cooldownSchedule(), 10, 10), "step must be an integer in [0, 10), found 10"],
    [() => temperatureAt(cooldownSchedule(), 0, 0), "steps must be a positive integer, found 0"],
  ];
  for (const [fn, message] of cases) assert.throws(fn, { name: "MixError", message });
});
