/**
 * The bench's PyTorch peers: the BLAS they report is the one torch's sgemm resolved to (the reference BLAS
 * named as such, and never given a ratio), and the GPT-2 peer computes mixtune's losses step by step on a
 * small checkpoint written as the bench writes it. Without torch the tests are ignored by name, except in CI
 * (CI=true), where they run and fail.
 */
import assert from "node:assert/strict";
import { versus } from "../bench/_format.ts";
import { lmSpec, type LmWorkload, mixtuneLmStep, writeLmFiles, writeLmStart } from "../bench/gpt2.ts";
import { LM_LOSS_TOLERANCE } from "../bench/lm_bench.ts";
import { runTorchScript, type TorchBlas, torchLmPeer, type TorchLmResult } from "../bench/peers/torch.ts";
import { testDevice } from "./_harness.ts";
import { torchStatus } from "./_hf_reference.ts";

const { missing, ci } = torchStatus;
const ignore = missing !== null && !ci;
const REFERENCE_DIR = "/usr/lib/x86_64-linux-gnu/blas";

const OPENBLAS: TorchBlas = {
  build: "BLAS_INFO=generic",
  kind: "OpenBLAS",
  reference: false,
  library: "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
  package: null,
  openblasConfig: null,
  blasThreads: 2,
  torchThreads: 2,
};

Deno.test("versus() says faster or slower, and gives no ratio against the reference BLAS", () => {
  assert.equal(versus(100, 250, OPENBLAS), "2.50x faster");
  assert.equal(versus(250, 100, OPENBLAS), "2.50x slower");
  assert.equal(versus(250, 100), "2.50x slower");
  assert.equal(
    versus(100, 250, { ...OPENBLAS, kind: "reference", reference: true }),
    "no ratio (reference BLAS)",
  );
});

async function blasOf(env: Record<string, string>): Promise<TorchBlas> {
  const script = new URL("../bench/peers/torch_blas.py", import.meta.url).pathname;
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [script],
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: "torch_blas.py names the library torch's sgemm resolved to, the reference BLAS as reference",
  ignore,
  fn: async () => {
    // what the dynamic linker picks for libblas.so.3 by default (the BLAS alternatives on Debian)
    const linked = Deno.realPathSync("/usr/lib/x86_64-linux-gnu/libblas.so.3");
    const plain = await blasOf({});
    assert.equal(plain.library, linked);
    assert.equal(plain.reference, linked.startsWith(`${REFERENCE_DIR}/`));
    // the reference library first on the search path: torch's sgemm lands there, whatever else is mapped
    const forced = await blasOf({ LD_LIBRARY_PATH: REFERENCE_DIR });
    assert.equal(forced.kind, "reference");
    assert.equal(forced.reference, true);
    assert.ok(forced.library!.startsWith(`${REFERENCE_DIR}/libblas.so`), forced.library!);
  },
});

const TINY: LmWorkload = {
  name: "tiny GPT-2",
  layers: 2,
  width: 32,
  heads: 4,
  vocab: 300,
  positions: 16,
  batch: 2,
  context: 12,
  rank: 4,
  lr: 1e-2,
  seed: 3,
  // large enough that gelu's form, the attention mask or the LoRA scale move the loss beyond the tolerance
  initStd: 0.3,
};

Deno.test({
  name: "torch_gpt2.py and mixtune's pretrained GPT-2 step give the same losses on the bench's files",
  ignore,
  fn: async () => {
    const device = await testDevice();
    if (!device) return;
    const root = await Deno.makeTempDir({ prefix: "mixtune_bench_" });
    try {
      const files = await writeLmFiles(TINY, `${root}/`);
      const spec = lmSpec(TINY, files);
      await writeLmStart(TINY, spec, files.start);
      const ours = await mixtuneLmStep(TINY, spec, { warmup: 1, steps: 3 });
      const peer = await torchLmPeer({ ...files, lr: TINY.lr, warmup: 1, steps: 3 });
      assert.ok(!("skipped" in peer), JSON.stringify(peer));
      const theirs = (peer as TorchLmResult).losses;
      assert.deepEqual((peer as TorchLmResult).params, ours.params);
      assert.equal(theirs.length, 4);
      theirs.forEach((l, i) => {
        const rel = Math.abs(ours.losses[i] - l) / Math.abs(l);
        assert.ok(rel <= LM_LOSS_TOLERANCE, `step ${i + 1}: mixtune ${ours.losses[i]}, torch ${l} (${rel})`);
      });
      // the LoRA updates move the loss well beyond the tolerance, so a wrong update would show
      const moved = Math.abs(theirs[3] - theirs[0]) / theirs[0];
      assert.ok(moved > 100 * LM_LOSS_TOLERANCE, `loss moved by ${moved} only`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "the bench's PyTorch scripts fail loudly on a bad start file",
  ignore,
  fn: async () => {
    await assert.rejects(
      runTorchScript("torch_gpt2.py", { checkpoint: "/nonexistent", start: "/nonexistent", lr: 1 }, {
        threads: 1,
      }),
      /torch_gpt2\.py failed with exit code 1/,
    );
  },
});
