import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadPipelineSource } from "../src/cli/load.ts";
import { hashSpec } from "../src/spec/hash.ts";
import { testDevice } from "./_harness.ts";

const dir = new URL("../pipelines/", import.meta.url);
// Pipelines default-export their spec or builder; the other .ts files here are scripts that tabulate runs.
const names = [...Deno.readDirSync(dir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts"))
  .filter((e) => /^export default /m.test(Deno.readTextFileSync(new URL(e.name, dir))))
  .map((e) => e.name.slice(0, -3))
  .sort();

Deno.test("pipelines/ holds example pipelines", () => {
  assert.ok(names.includes("quickstart"), `found ${names.join(", ")}`);
});

/**
 * Pipelines that read files a script writes first (paths relative to the working directory): the script's
 * arguments, run with `--out <scratch>/runs`; both twins are then loaded from the scratch folder.
 */
const WRITTEN_FIRST: Record<string, string[]> = { sft_mix: ["sft_mix_data.ts", "--steps", "1"] };

for (const name of names) {
  Deno.test(`pipelines/${name}.ts and ${name}.yaml give the same spec, hash and sweep`, async () => {
    const first = WRITTEN_FIRST[name];
    // the script pretrains on the GPU: without an adapter (outside CI) there is nothing to load
    if (first && !(await testDevice())) return;
    const scratch = first ? await Deno.makeTempDir({ prefix: `mixtune_${name}_` }) : undefined;
    const cwd = Deno.cwd();
    try {
      if (first) {
        const [script, ...args] = first;
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", fileURLToPath(new URL(script, dir)), ...args, "--out", `${scratch}/runs`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        Deno.chdir(scratch!);
      }
      const built = await loadPipelineSource(fileURLToPath(new URL(`${name}.ts`, dir)));
      const loaded = await loadPipelineSource(fileURLToPath(new URL(`${name}.yaml`, dir)));
      assert.deepEqual({ spec: loaded.spec, sweep: loaded.sweep }, { spec: built.spec, sweep: built.sweep });
      assert.equal(await hashSpec(loaded.spec), await hashSpec(built.spec));
    } finally {
      Deno.chdir(cwd);
      if (scratch) await Deno.remove(scratch, { recursive: true });
    }
  });
}
