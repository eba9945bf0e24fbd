import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadPipelineSource } from "../src/cli/load.ts";
import { hashSpec } from "../src/spec/hash.ts";

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

for (const name of names) {
  Deno.test(`pipelines/${name}.ts and ${name}.yaml give the same spec, hash and sweep`, async () => {
    const built = await loadPipelineSource(fileURLToPath(new URL(`${name}.ts`, dir)));
    const loaded = await loadPipelineSource(fileURLToPath(new URL(`${name}.yaml`, dir)));
    assert.deepEqual({ spec: loaded.spec, sweep: loaded.sweep }, { spec: built.spec, sweep: built.sweep });
    assert.equal(await hashSpec(loaded.spec), await hashSpec(built.spec));
  });
}
