import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { Forward } from "../src/compile/forward.ts";
import { ParamStore } from "../src/compile/param_store.ts";
import { evaluate } from "../src/graph/cpu.ts";
import type { VitConfig } from "../src/models/config.ts";
import { buildModel, loraNames, type LoraPlacement } from "../src/models/graph.ts";
import type { LoraSet } from "../src/export/types.ts";
import { randomImages, randomLora, randomVitWeights, refVitForward } from "./_ref_vit.ts";
import { relError, testDevice } from "./_harness.ts";

const config: VitConfig = {
  backbone: "vit",
  image: 28,
  patch: 7,
  dim: 32,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  embedDim: 16,
  classes: 5,
};
const B = 3;

/** Weights by name for the graph: base weights plus the LoRA branches under PEFT names. */
function feedsFor(lora: LoraSet): Map<string, Float32Array> {
  const feeds = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(randomVitWeights(config, 11))) feeds.set(name, t.data);
  for (const [path, l] of Object.entries(lora)) {
    const one = loraNames(path, l.A2 ? "hq" : undefined);
    feeds.set(one.A, l.A1.data);
    feeds.set(one.B, l.B1.data);
    if (l.A2) {
      const two = loraNames(path, "lq");
      feeds.set(two.A, l.A2.data);
      feeds.set(two.B, l.B2!.data);
    }
  }
  return feeds;
}

function placements(lora: LoraSet): LoraPlacement[] {
  return Object.entries(lora).map(([path, l]) => ({
    path,
    rank: l.A1.shape[0],
    scale: l.scale,
    gated: !!l.A2,
  }));
}

const lora = randomLora(config, ["blocks.0.attn.qkv", "blocks.1.attn.qkv", "feature"], {
  rank: 3,
  seed: 5,
  scale: 0.5,
  gated: true,
});
const gate = new Float32Array([0.9, 0.2, 0.55]);
const images = randomImages(config, B, 3);

Deno.test("buildModel() ViT with gated LoRA matches the float64 reference forward on the CPU", () => {
  const model = buildModel(config, {
    batch: B,
    domains: 1,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: placements(lora),
  });
  const feeds = feedsFor(lora);
  const f = new Map<string, Float32Array>([...feeds, ["x", images], ["gate", gate]]);
  const got = evaluate([model.embedding!], f).get(model.embedding!)!;
  const ref = refVitForward(config, randomVitWeights(config, 11), images, B, {
    logitScale: 8,
    lora,
    gate: Float64Array.from(gate),
  });
  assert.ok(relError(got, ref.embedding) <= 1e-9, `embedding relative error ${relError(got, ref.embedding)}`);
});

Deno.test("compiled ViT forward on the GPU matches the float64 reference; B = 0 gives the frozen model", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(config, {
    batch: B,
    domains: 1,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: placements(lora),
  });
  const store = new ParamStore(
    device,
    [...model.params.values()].map((p) => ({ name: p.name, shape: p.shape, trainable: p.trainable })),
  );
  const feeds = feedsFor(lora);
  store.upload(feeds);
  const forward = await Forward.compile(device, store, model, [model.embedding!]);
  forward.feed({ x: images, gate });
  const [got] = await forward.run([model.embedding!]);
  const ref = refVitForward(config, randomVitWeights(config, 11), images, B, {
    logitScale: 8,
    lora,
    gate: Float64Array.from(gate),
  });
  assert.ok(relError(got, ref.embedding) <= 1e-4, `embedding relative error ${relError(got, ref.embedding)}`);

  // With every B at zero (LoRA's init), the adapted model is exactly the frozen one.
  for (const p of placements(lora)) {
    for (const branch of ["hq", "lq"] as const) {
      const n = loraNames(p.path, branch);
      feeds.set(n.B, new Float32Array(feeds.get(n.B)!.length));
    }
  }
  store.upload(feeds);
  forward.feed({ x: images, gate });
  const [zeroB] = await forward.run([model.embedding!]);
  const frozen = refVitForward(config, randomVitWeights(config, 11), images, B, { logitScale: 8 });
  assert.ok(
    relError(zeroB, frozen.embedding) <= 1e-4,
    `B = 0 relative error ${relError(zeroB, frozen.embedding)}`,
  );
  forward.destroy();
  store.destroy();
});
