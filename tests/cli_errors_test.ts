import assert from "node:assert/strict";
import { cli, fixture, mainOutput, ROOT } from "./fixtures/helpers.ts";

Deno.test("the CLI exits with 2 and prints one line per problem of an invalid YAML pipeline", async () => {
  const file = fixture("invalid.yaml");
  const r = await cli([file, "--plan"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.deepEqual(r.stderr.split("\n"), [
    `${file}:24:56 stages.pretrain.mix.temperature: expected a number > 0, found 0`,
    `${file}:27:43 stages.pretrain.optimizer.warmpu: unknown key "warmpu"; did you mean "warmup"?`,
    `${file}:32:5 stages.finetune.from: unknown stage "pretrian"; did you mean "pretrain"?`,
    `${file}:35:42 stages.finetune.adapters[0].targets[1]: pattern "blocks.*.mlp.fc3" matches no module; ` +
    "closest: blocks.0.mlp.fc1, blocks.0.mlp.fc2, blocks.0.attn.qkv",
    "",
  ]);
});

Deno.test("invalid.yaml: each reported position is the key (or list item) at fault", async () => {
  // guards the expected lines above against an edit of the fixture that moves the mistakes
  const lines = (await Deno.readTextFile(`${ROOT}${fixture("invalid.yaml")}`)).split("\n");
  const at = (line: number, column: number, text: string) =>
    lines[line - 1].slice(column - 1, column - 1 + text.length);
  assert.equal(at(24, 56, "temperature: 0"), "temperature: 0");
  assert.equal(at(27, 43, "warmpu"), "warmpu");
  assert.equal(at(32, 5, "from: pretrian"), "from: pretrian");
  assert.equal(at(35, 42, '"blocks.*.mlp.fc3"'), '"blocks.*.mlp.fc3"');
});

Deno.test("the CLI exits with 2 on a usage error, saying what was expected", async () => {
  const r = await cli([fixture("tiny.yaml"), "--steps", "x"]);
  assert.deepEqual(r, { code: 2, stdout: "", stderr: `--steps: expected an integer >= 1, found "x"\n` });
});

Deno.test("main() returns 2 for each kind of usage error and names the culprit", async () => {
  const tiny = fixture("tiny.yaml");
  const cases: [string[], string][] = [
    [[tiny, "--steps", "0"], "--steps: expected an integer >= 1, found 0\n"],
    [[tiny, "--steps", "2.5"], "--steps: expected an integer >= 1, found 2.5\n"],
    [[tiny, "--seed=-1"], "--seed: expected an integer in [0, 4294967295], found -1\n"],
    [
      [tiny, "--stage", "nope", "--plan"],
      '--stage: no stage named "nope"; stages: pretrain, finetune, check\n',
    ],
  ];
  for (const [args, stderr] of cases) {
    assert.deepEqual(await mainOutput(args), { code: 2, stdout: "", stderr }, args.join(" "));
  }
  const two = await mainOutput([tiny, tiny]);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /^expected at most one pipeline file, found 2\nusage: /);
  const unknown = await mainOutput([tiny, "--step", "3"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^Unknown option '--step'.*\nusage: /);
  const missing = await mainOutput([fixture("missing.yaml"), "--plan"]);
  assert.equal(missing.code, 2);
  assert.match(
    missing.stderr,
    /^tests\/fixtures\/missing\.yaml \(file\): cannot read tests\/fixtures\/missing\.yaml: /,
  );
});
