import assert from "node:assert/strict";
import { hashSpec } from "../src/spec/hash.ts";
import type { PipelineSpec } from "../src/spec/types.ts";
import { loadPipelineYaml } from "../src/spec/yaml.ts";

const dir = new URL("../pipelines/", import.meta.url);
// Pipelines default-export their spec; the other .ts files here are scripts that tabulate runs.
const names = [...Deno.readDirSync(dir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts"))
  .filter((e) => /^export default /m.test(Deno.readTextFileSync(new URL(e.name, dir))))
  .map((e) => e.name.slice(0, -3))
  .sort();

Deno.test("pipelines/ holds example pipelines", () => {
  assert.ok(names.includes("quickstart"), `found ${names.join(", ")}`);
});

for (const name of names) {
  Deno.test(`pipelines/${name}.ts and ${name}.yaml give the same spec and hash`, async () => {
    const built: PipelineSpec = (await import(new URL(`${name}.ts`, dir).href)).default;
    const yamlFile = new URL(`${name}.yaml`, dir);
    const loaded = loadPipelineYaml(await Deno.readTextFile(yamlFile), `pipelines/${name}.yaml`);
    assert.deepEqual(loaded, built);
    assert.equal(await hashSpec(loaded), await hashSpec(built));
  });
}
