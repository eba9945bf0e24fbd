/**
 * Qwen2.5-0.5B's exact config and tensor table (bf16, two shards, tied 151,936 x 896 embedding, 14 query and
 * 2 key/value heads) with random weights (tests/fixtures/real_shapes.py): the forward loss on 2 x 64 ids
 * equals the float64 PyTorch reference (tests/fixtures/real_reference.py), with the weights in f32 and as
 * stored (bf16) alike. The embedding is 519 MiB in f32, 260 MiB in bf16: gather and the fused loss read it
 * in parts of at most one binding. Without torch the test is ignored by
 * name, except in CI (CI=true), where it runs and fails.
 */
import assert from "node:assert/strict";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program, type Slot } from "../src/compile/program.ts";
import { halfWeights } from "../src/compile/half_weights.ts";
import type { Node } from "../src/graph/node.ts";
import type { Half } from "../src/graph/op.ts";
import { buildModel } from "../src/models/graph.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { testDevice } from "./_harness.ts";
import { torchStatus } from "./_hf_reference.ts";

const PYTHON = "/usr/bin/python3";
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const [B, T] = [2, 64];
/** float32 against float64 through 24 layers. */
const TOL = 1e-5;

async function python(args: string[]): Promise<void> {
  const out = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${args[0]} failed:\n${new TextDecoder().decode(out.stderr)}`);
}

const { missing, ci } = torchStatus;
const ignore = missing !== null && !ci;
if (ignore) console.warn(`Qwen2.5-0.5B test ignored: ${missing}`);

Deno.test({
  name: "Qwen2.5-0.5B (bf16, 2 shards, tied): the forward loss on 2 x 64 ids equals PyTorch's (float64)",
  ignore,
  fn: async () => {
    const device = await testDevice();
    if (!device) return;
    const root = await Deno.makeTempDir({ prefix: "mixtune_qwen_" });
    try {
      await python([`${FIXTURES}real_shapes.py`, root, "qwen2.5-0.5b"]);
      const dir = `${root}/qwen2.5-0.5b`;
      await python([`${FIXTURES}real_reference.py`, dir, `${root}/ref.json`, `${B}`, `${T}`]);
      const ref = JSON.parse(await Deno.readTextFile(`${root}/ref.json`)) as {
        x: number[];
        labels: number[];
        loss: number;
      };
      const checkpoint = await readPretrained(dir);
      assert.deepEqual(new Set(checkpoint.dtypes.values()), new Set(["BF16"]));
      const m = buildModel({ backbone: "pretrained", pretrained: dir, context: T }, {
        batch: B,
        domains: 1,
        loss: { kind: "lm" },
      });
      const params = [...m.params.values()];
      /** The loss with the frozen weights in `half` kept in 16 bits. */
      const lossWith = async (half: Map<Node, Half>): Promise<number> => {
        const store = new ParamStore(device, params.map((p) => ({ ...p, half: half.get(p) ?? false })));
        try {
          store.upload(checkpoint.weights);
          const pinned = new Map<Node, Slot>(params.map((p) => [p, store.slot(p.name)]));
          const program = await Program.compile(device, [m.loss], { pinned, poison: true });
          program.write(m.inputs.x, Float32Array.from(ref.x));
          program.write(m.inputs.labels, Float32Array.from(ref.labels));
          program.write(m.inputs.weights, new Float32Array(B).fill(1));
          program.run();
          const [loss] = await program.read(m.loss);
          program.destroy();
          return loss;
        } finally {
          store.destroy();
        }
      };
      const loss = await lossWith(new Map());
      const e = Math.abs(loss - ref.loss) / Math.abs(ref.loss);
      console.log(
        `Qwen2.5-0.5B loss ${loss}, PyTorch float64 ${ref.loss}: relative error ${e.toExponential(1)}`,
      );
      assert.ok(e <= TOL, `loss ${loss}, PyTorch ${ref.loss}: relative error ${e} > ${TOL}`);
      // as stored: every frozen 2-D weight bf16, the 260 MiB tied embedding too, read by gather in three
      // pieces and by the fused loss in chunks; the same values, so the same bits
      const half = halfWeights([m.loss], "stored", checkpoint.dtypes);
      assert.equal(half.get(m.params.get("model.embed_tokens.weight")!), "bf16");
      assert.equal(await lossWith(half), loss);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
