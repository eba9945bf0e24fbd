/**
 * A ViT checkpoint's image preprocessing: the bilinear resize matrix against torch's `interpolate` in float64
 * (upsampling with and without antialias, downsampling with it), and preprocessor_config.json read as
 * transformers' ViTImageProcessor reads it, with its defaults and with the settings mixtune refuses.
 */
import assert from "node:assert/strict";
import { bilinearWeights, upsample } from "../src/data/transforms/resize.ts";
import { parsePreprocessor } from "../src/models/pretrained/preprocessor.ts";
import { PretrainedError } from "../src/models/pretrained/errors.ts";
import { randoms } from "./_harness.ts";
import { torchStatus } from "./_hf_reference.ts";

/** (in, out) sides: upsampling by integer and awkward ratios, downsampling, and an unchanged side. */
const SIZES: [number, number][] = [[28, 56], [28, 224], [7, 10], [5, 13], [28, 20], [56, 28], [30, 7], [
  9,
  9,
]];

/** R X R^T in float64 for one square image. */
function resize2d(image: ArrayLike<number>, from: number, to: number): Float64Array {
  const r = bilinearWeights(from, to);
  const rows = new Float64Array(from * to);
  for (let y = 0; y < from; y++) {
    for (let o = 0; o < to; o++) {
      let acc = 0;
      for (let i = 0; i < from; i++) acc += r[o * from + i] * image[y * from + i];
      rows[y * to + o] = acc;
    }
  }
  const out = new Float64Array(to * to);
  for (let o = 0; o < to; o++) {
    for (let x = 0; x < to; x++) {
      let acc = 0;
      for (let i = 0; i < from; i++) acc += r[o * from + i] * rows[i * to + x];
      out[o * to + x] = acc;
    }
  }
  return out;
}

const SCRIPT = `
import json, sys, torch
cases = json.load(sys.stdin)
out = []
for c in cases:
    x = torch.tensor(c["image"], dtype=torch.float64).view(1, 1, c["from"], c["from"])
    f = lambda aa: torch.nn.functional.interpolate(x, size=(c["to"], c["to"]), mode="bilinear",
                                                   align_corners=False, antialias=aa).reshape(-1).tolist()
    out.append({"antialias": f(True), "plain": f(False)})
print(json.dumps(out))
`;

const { missing, ci } = torchStatus;
Deno.test({
  name:
    "bilinearWeights() equals torch's bilinear interpolate (antialias=True; also antialias=False upsampling)",
  ignore: missing !== null && !ci,
  fn: async () => {
    const cases = SIZES.map(([from, to], k) => ({
      from,
      to,
      image: [...randoms(from * from, 30 + k, 0, 255)],
    }));
    const child = new Deno.Command("/usr/bin/python3", {
      args: ["-c", SCRIPT],
      stdin: "piped",
      stdout: "piped",
    })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(cases)));
    await writer.close();
    const result = await child.output();
    assert.ok(result.success, "python failed");
    const torch = JSON.parse(new TextDecoder().decode(result.stdout)) as {
      antialias: number[];
      plain: number[];
    }[];
    cases.forEach(({ from, to, image }, k) => {
      const ours = resize2d(image, from, to);
      const worst = (want: number[]) => Math.max(...want.map((v, i) => Math.abs(ours[i] - v)));
      // values up to 255 in float64: sums of a few products, so 1e-10 is many orders above rounding
      assert.ok(
        worst(torch[k].antialias) <= 1e-10,
        `${from} -> ${to} antialias: ${worst(torch[k].antialias)}`,
      );
      if (to >= from) assert.ok(worst(torch[k].plain) <= 1e-10, `${from} -> ${to}: ${worst(torch[k].plain)}`);
      else assert.ok(worst(torch[k].plain) > 1e-3, `${from} -> ${to}: antialias must matter downsampling`);
    });
  },
});

Deno.test("bilinearWeights(): rows sum to 1; upsampling it is upsample(..., 'bilinear')", () => {
  for (const [from, to] of SIZES) {
    const r = bilinearWeights(from, to);
    for (let o = 0; o < to; o++) {
      const row = r.subarray(o * from, (o + 1) * from);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-12, `${from} -> ${to} row ${o}`);
      assert.ok(row.every((w) => w >= 0));
    }
    if (to < from) continue;
    const image = randoms(from * from, from + to, 0, 1);
    const want = upsample(image, from, to, "bilinear");
    const got = resize2d(image, from, to);
    want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-6, `${from} -> ${to} at ${i}`));
  }
  assert.throws(() => bilinearWeights(0, 4), RangeError);
});

Deno.test("parsePreprocessor(): google/vit-base-patch16-224's file, and ViTImageProcessor's defaults", () => {
  const google = {
    do_normalize: true,
    do_resize: true,
    feature_extractor_type: "ViTFeatureExtractor",
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    resample: 2,
    size: 224,
  };
  assert.deepEqual(parsePreprocessor(google, "p.json", 224, 3), {
    resize: true,
    size: 224,
    rescale: 1 / 255,
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
  });
  assert.deepEqual(parsePreprocessor({}, "p.json", 224, 3), parsePreprocessor(google, "p.json", 224, 3));
  assert.deepEqual(
    parsePreprocessor(
      { do_rescale: false, do_normalize: false, size: { height: 64, width: 64 }, image_mean: 0.1 },
      "p.json",
      64,
      1,
    ),
    { resize: true, size: 64, rescale: 1, mean: [0], std: [1] },
  );
  // do_resize false: size is not compared with image_size
  assert.equal(parsePreprocessor({ do_resize: false, size: 32 }, "p.json", 64, 3).resize, false);
});

Deno.test("parsePreprocessor() names the file and the setting it cannot apply", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ size: 256 }, "size 256 differs from config.json's image_size 224"],
    [{ size: { height: 224, width: 200 } }, 'size must be a positive integer or {"height": N, "width": N}'],
    [{ resample: 3 }, "resample 3 is not supported (only 2, bilinear)"],
    [{ image_std: [0.5, 0, 0.5] }, "image_std must be a positive number or a list of 3 (num_channels)"],
    [{ image_mean: [0.5, 0.5] }, "image_mean must be a number or a list of 3 (num_channels)"],
    [{ rescale_factor: -1 }, "rescale_factor must be a positive number"],
    [{ do_resize: "yes" }, 'do_resize must be true or false, found "yes"'],
  ];
  for (const [raw, problem] of cases) {
    assert.throws(() => parsePreprocessor(raw, "m/preprocessor_config.json", 224, 3), (e: unknown) => {
      assert.ok(e instanceof PretrainedError);
      assert.ok(e.message.startsWith(`m/preprocessor_config.json: ${problem}`), e.message);
      return true;
    });
  }
  assert.throws(() => parsePreprocessor([], "p.json", 224, 3), /p\.json: must hold a JSON object/);
});
