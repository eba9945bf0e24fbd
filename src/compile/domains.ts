/** Loads a pipeline's data domains from their specs: source, then transforms in order. */
import type { DomainSpec, PipelineSpec } from "../spec/types.ts";
import {
  DataError,
  type Degradation,
  degrade,
  type Domain,
  fractionBytes,
  fractionImages,
  imageDomain,
  type ImageSet,
  joinDocuments,
  loadDictionary,
  loadImageFolder,
  loadJsonl,
  loadMnist,
  loadTextFolder,
  loadUdhr,
  mixQuality,
  takeBytes,
  takeImages,
  textDomain,
} from "../data/mod.ts";

/** Loads (once) and returns the named domains. */
export class DomainCache {
  #loaded = new Map<string, Domain>();
  constructor(readonly spec: PipelineSpec) {}

  /** The domain called `name`. */
  get(name: string): Domain {
    let d = this.#loaded.get(name);
    if (!d) {
      const spec = this.spec.domains[name];
      if (!spec) throw new DataError(`no domain named "${name}"`);
      d = loadDomain(name, spec, this.spec);
      this.#loaded.set(name, d);
    }
    return d;
  }

  /** Several domains, in order. */
  all(names: readonly string[]): Domain[] {
    return names.map((n) => this.get(n));
  }
}

/** Applies a domain's source and transforms. Errors name the domain. */
export function loadDomain(name: string, spec: DomainSpec, pipeline: PipelineSpec): Domain {
  const seed = pipeline.seed;
  const transforms = spec.transforms ?? [];
  const split = transforms.find((t) => t.kind === "split");
  const validation = split && split.kind === "split" ? split.validation : 0;
  const src = spec.source;
  if (src.kind === "mnist" || src.kind === "images") {
    let set: ImageSet = src.kind === "mnist"
      ? loadMnist({ digits: src.digits })
      : loadImageFolder(src.path, { side: pipeline.model.backbone === "vit" ? pipeline.model.image : 28 })
        .set;
    for (const t of transforms) {
      if (t.kind === "take") set = takeImages(set, t.count, `domain "${name}"`);
      else if (t.kind === "fraction") set = fractionImages(set, t.fraction);
      else if (t.kind === "degrade") {
        set = { ...set, images: degrade(set.images, set.side, degradations(t, set.side), seed) };
      } else if (t.kind === "mixQuality") {
        const steps = degradations({ downsample: t.downsample }, set.side);
        set = mixQuality(set, { fraction: t.degradedFraction, steps, seed }).set;
      }
    }
    return imageDomain(name, set, validation, seed);
  }
  let bytes: Uint8Array;
  if (src.kind === "dictionary") bytes = loadDictionary(src.language, { seed });
  else if (src.kind === "udhr") bytes = loadUdhr(src.language);
  else if (src.kind === "text") {
    bytes = joinDocuments(loadTextFolder(src.path).map((c) => joinDocuments(c.documents)));
  } else {
    const corpora = loadJsonl(src.path, { textField: src.textField, domainField: src.domainField });
    const picked = src.domain === undefined ? corpora : corpora.filter((c) => c.name === src.domain);
    if (picked.length === 0) throw new DataError(`no records of domain "${src.domain}"`, { file: src.path });
    bytes = joinDocuments(picked.flatMap((c) => c.documents));
  }
  for (const t of transforms) {
    if (t.kind === "take") bytes = takeBytes(bytes, t.count, `domain "${name}"`);
    else if (t.kind === "fraction") bytes = fractionBytes(bytes, t.fraction);
    else if (t.kind === "degrade" || t.kind === "mixQuality") {
      throw new DataError(`domain "${name}": ${t.kind} applies to images, not text`);
    }
  }
  return textDomain(name, bytes, validation);
}

function degradations(t: { downsample: number; blur?: number; noise?: number }, side: number): Degradation[] {
  const steps: Degradation[] = [{
    kind: "downsample",
    size: Math.round(side / t.downsample),
    upsample: "bilinear",
  }];
  if (t.blur) steps.push({ kind: "blur", sigma: t.blur });
  if (t.noise) steps.push({ kind: "noise", std: t.noise });
  return steps;
}
