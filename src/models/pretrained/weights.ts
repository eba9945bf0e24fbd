/** A pretrained checkpoint's weights, read on demand: a tensor, or pieces of one, at a time. */
import { checkPretrained, type TensorPlace } from "./checkpoint.ts";
import { type Keep, PIECE, type Piece, readTensor, tensorPieces } from "./stream.ts";

/** A checkpoint folder whose weights are read on demand; its headers are read and checked when opened. */
export class PretrainedWeights {
  private constructor(readonly dir: string, readonly places: ReadonlyMap<string, TensorPlace>) {}

  /** Opens `dir`; throws PretrainedError naming the file at fault. */
  static open(dir: string): PretrainedWeights {
    return new PretrainedWeights(dir, checkPretrained(dir).places);
  }

  /** The same checkpoint less some weights (a ViT's classifier, which a pipeline's head replaces). */
  without(names: readonly string[]): PretrainedWeights {
    return new PretrainedWeights(this.dir, new Map([...this.places].filter(([n]) => !names.includes(n))));
  }

  has(name: string): boolean {
    return this.places.has(name);
  }

  names(): string[] {
    return [...this.places.keys()];
  }

  /** One weight, whole, as float32 in mixtune's layout. */
  read(name: string): Float32Array {
    return readTensor(this.place(name));
  }

  /** One weight in pieces of at most `most` elements, as `keep` stores it where the checkpoint allows. */
  pieces(name: string, keep: Keep, most = PIECE): Iterable<Piece> {
    return tensorPieces(this.place(name), keep, most);
  }

  private place(name: string): TensorPlace {
    const p = this.places.get(name);
    if (!p) throw new Error(`${this.dir} holds no weight ${name}`);
    return p;
  }
}
