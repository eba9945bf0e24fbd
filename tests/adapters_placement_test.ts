import assert from "node:assert/strict";
import { linearModules, type VitConfig } from "../src/models/config.ts";
import { compilePattern, editDistance, PatternError } from "../src/adapters/patterns.ts";
import {
  countAdapterParams,
  placeAdapters,
  resolveScale,
  selectParameters,
} from "../src/adapters/placement.ts";

// 28x28 images in 7x7 patches; dim 32, MLP hidden 64, embedding 16, 10 classes
const vit: VitConfig = {
  backbone: "vit",
  image: 28,
  patch: 7,
  dim: 32,
  depth: 4,
  heads: 4,
  mlpRatio: 2,
  embedDim: 16,
  classes: 10,
};
const modules = linearModules(vit);
const paths = modules.map((m) => m.path);

function matched(pattern: string): string[] {
  const m = compilePattern(pattern);
  return paths.filter((p) => m.test(p));
}

Deno.test("compilePattern() matches exactly the expected ViT modules", () => {
  assert.deepEqual(matched("blocks.*.attn.qkv"), [0, 1, 2, 3].map((i) => `blocks.${i}.attn.qkv`));
  assert.deepEqual(matched("blocks.{1..2}.mlp.{fc1,fc2}"), [
    "blocks.1.mlp.fc1",
    "blocks.1.mlp.fc2",
    "blocks.2.mlp.fc1",
    "blocks.2.mlp.fc2",
  ]);
  assert.deepEqual(matched("blocks.0.{attn.qkv,mlp.fc1}"), ["blocks.0.attn.qkv", "blocks.0.mlp.fc1"]);
  assert.deepEqual(matched("blocks.3.mlp.fc*"), ["blocks.3.mlp.fc1", "blocks.3.mlp.fc2"]);
  assert.deepEqual(matched("**.fc2"), [0, 1, 2, 3].map((i) => `blocks.${i}.mlp.fc2`));
  assert.deepEqual(matched("blocks.**.proj"), [0, 1, 2, 3].map((i) => `blocks.${i}.attn.proj`));
  assert.equal(matched("blocks.**").length, 16);
  assert.equal(matched("**").length, paths.length);
  // one segment only: the top-level linears
  assert.deepEqual(matched("*"), ["patch_embed", "feature", "head"]);
  // regular expressions match the whole path
  assert.deepEqual(matched("/blocks\\.[03]\\.attn\\.proj/"), ["blocks.0.attn.proj", "blocks.3.attn.proj"]);
  assert.deepEqual(matched("/qkv/"), []);
  assert.deepEqual(matched("/.*qkv/").length, 4);
  // a range is numeric, not a character class: {1..2} does not match 12
  const r = compilePattern("blocks.{1..2}.x");
  assert.equal(r.test("blocks.12.x"), false);
  assert.equal(compilePattern("blocks.{8..11}.x").test("blocks.10.x"), true);
  assert.equal(compilePattern("blocks.{8..11}.x").test("blocks.7.x"), false);
});

Deno.test("compilePattern() rejects malformed patterns with the reason", () => {
  const cases: [string, string][] = [
    ["blocks.{3..1}.qkv", 'pattern "blocks.{3..1}.qkv": range {3..1} is empty (start 3 > end 1)'],
    ["blocks..qkv", 'pattern "blocks..qkv" has an empty segment (a leading, trailing or doubled ".")'],
    ["blocks.{0.qkv", 'pattern "blocks.{0.qkv": "{" is never closed'],
    ["blocks.0}.qkv", 'pattern "blocks.0}.qkv": "}" without a matching "{"'],
    ["blocks.{a}", 'pattern "blocks.{a}": {a} is neither a range {a..b} nor a list of alternatives {x,y}'],
    ["a**.qkv", 'pattern "a**.qkv": "**" must be a whole segment, found "a**"'],
    ["//", 'pattern "//" is an empty regular expression'],
  ];
  for (const [pattern, message] of cases) {
    assert.throws(
      () => compilePattern(pattern),
      (e: Error) => e instanceof PatternError && e.message === message,
    );
  }
  assert.throws(
    () => compilePattern("/[/"),
    /^PatternError: pattern "\/\[\/" is not a valid regular expression/,
  );
});

Deno.test("editDistance() counts single-character edits", () => {
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("blocks.*.atn.qkv", "blocks.0.attn.qkv"), 2);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("placeAdapters() places PETALface's layout and counts its parameters", () => {
  const { placements, problems } = placeAdapters(
    [{ targets: ["blocks.*.attn.qkv", "feature"], rank: 8, gated: true, init: "gaussian", dropout: 0.1 }],
    modules,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(placements.map((p) => p.path), [
    "blocks.0.attn.qkv",
    "blocks.1.attn.qkv",
    "blocks.2.attn.qkv",
    "blocks.3.attn.qkv",
    "feature",
  ]);
  assert.deepEqual(placements[0], {
    path: "blocks.0.attn.qkv",
    in: 32,
    out: 96,
    adapter: 0,
    rank: 8,
    scale: 1,
    gated: true,
    dropout: 0.1,
    init: "gaussian",
  });
  // qkv: 8 * (32 + 96) = 1024 per block, 4 blocks = 4096; feature: 8 * (32 + 16) = 384;
  // 4096 + 384 = 4480, two branches each = 8960
  assert.equal(countAdapterParams(placements), 8960);
});

Deno.test("placeAdapters() resolves scales and keeps module order across adapters", () => {
  const { placements, problems } = placeAdapters(
    [
      { targets: "feature", rank: 4, scale: { alpha: 8 } },
      { targets: "blocks.{1..2}.mlp.fc1", rank: 2, scale: { alpha: 4, rslora: true } },
      { targets: "/patch_embed/", rank: 1, scale: 0.5 },
    ],
    modules,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(
    placements.map((p) => [p.path, p.adapter, p.scale, p.init, p.gated]),
    [
      ["patch_embed", 2, 0.5, "kaiming", false],
      ["blocks.1.mlp.fc1", 1, 4 / Math.sqrt(2), "kaiming", false],
      ["blocks.2.mlp.fc1", 1, 4 / Math.sqrt(2), "kaiming", false],
      ["feature", 0, 2, "kaiming", false],
    ],
  );
  // patch_embed 1 * (49 + 32) = 81; fc1 2 * (32 + 64) = 192, twice = 384; feature 4 * (32 + 16) = 192
  assert.equal(countAdapterParams(placements), 81 + 384 + 192);
  assert.equal(resolveScale(undefined, 8), 1);
  assert.equal(resolveScale({ alpha: 16 }, 8), 2);
  assert.equal(resolveScale({ alpha: 16, rslora: true }, 4), 8);
});

Deno.test("placeAdapters() names an unmatched pattern and the three closest modules", () => {
  const { placements, problems } = placeAdapters([{ targets: "blocks.*.atn.qkv", rank: 8 }], modules);
  assert.deepEqual(placements, []);
  assert.deepEqual(problems, [{
    index: 0,
    pattern: "blocks.*.atn.qkv",
    field: "targets",
    message: 'pattern "blocks.*.atn.qkv" matches no module; ' +
      "closest: blocks.0.attn.qkv, blocks.1.attn.qkv, blocks.2.attn.qkv",
  }]);
});

Deno.test("placeAdapters() reports a module matched by two adapters", () => {
  const { problems } = placeAdapters(
    [{ targets: "blocks.*.attn.*", rank: 8 }, { targets: "blocks.0.attn.qkv", rank: 4 }],
    modules,
  );
  assert.deepEqual(problems, [{
    index: 1,
    pattern: "blocks.0.attn.qkv",
    field: "targets",
    message: 'module "blocks.0.attn.qkv" is matched by adapters[0] ("blocks.*.attn.*") ' +
      'and adapters[1] ("blocks.0.attn.qkv")',
  }]);
  // two patterns of the same adapter may overlap
  const same = placeAdapters([{ targets: ["blocks.*.attn.qkv", "blocks.0.**"], rank: 2 }], modules);
  assert.deepEqual(same.problems, []);
  assert.equal(same.placements.length, 4 + 3);
});

Deno.test("placeAdapters() collects invalid options and malformed patterns", () => {
  const { problems } = placeAdapters(
    [{ targets: ["feature", "blocks.{2..1}.x"], rank: 0, dropout: 1, scale: -1 }],
    modules,
  );
  assert.deepEqual(problems.map((p) => [p.field, p.message]), [
    ["rank", "rank must be a positive integer, found 0"],
    ["scale", "scale must be a positive number, found -1"],
    ["dropout", "dropout must be in [0, 1), found 1"],
    ["targets", 'pattern "blocks.{2..1}.x": range {2..1} is empty (start 2 > end 1)'],
  ]);
});

Deno.test("selectParameters() matches parameter names and their module prefixes", () => {
  const names = [
    "patch_embed.weight",
    "patch_embed.bias",
    "pos_embed",
    ...[0, 1, 2, 3].flatMap((i) => [
      `blocks.${i}.ln1.weight`,
      `blocks.${i}.attn.qkv.weight`,
      `blocks.${i}.mlp.fc2.bias`,
    ]),
    "norm.weight",
    "feature.weight",
    "head.weight",
  ];
  assert.deepEqual(selectParameters(["head"], names), { selected: ["head.weight"], problems: [] });
  assert.deepEqual(selectParameters(["*"], names).selected, names);
  assert.deepEqual(selectParameters(["**"], names).selected, names);
  assert.deepEqual(selectParameters(["blocks.{2..3}", "head"], names).selected, [
    "blocks.2.ln1.weight",
    "blocks.2.attn.qkv.weight",
    "blocks.2.mlp.fc2.bias",
    "blocks.3.ln1.weight",
    "blocks.3.attn.qkv.weight",
    "blocks.3.mlp.fc2.bias",
    "head.weight",
  ]);
  // distance to the nearest module prefix: head 2, norm 4, blocks 6 (feature also 6, but later in order)
  assert.deepEqual(selectParameters(["haed"], names).problems, [{
    index: 0,
    pattern: "haed",
    message: 'pattern "haed" matches no parameter; closest: head.weight, norm.weight, blocks.0.ln1.weight',
  }]);
});
