/**
 * Text to token ids and back: UTF-8 bytes (what mixtune's text domains feed without a tokenizer), or a model
 * folder's own tokenizer (tokenizer.json).
 */
import type { TextTokenizer } from "../../data/tokenizer.ts";

/** Encodes text to ids and decodes ids as they stream in. */
export interface TokenCodec {
  encode(text: string): number[];
  /** A decoder that returns the text each new id completes (a multi-byte character waits for its end). */
  decoder(): { push(id: number): string; end(): string };
}

/** UTF-8 bytes as ids 0-255. */
export const byteCodec: TokenCodec = {
  encode: (text) => [...new TextEncoder().encode(text)],
  decoder: () => {
    const d = new TextDecoder();
    return {
      push: (id) => d.decode(Uint8Array.of(id), { stream: true }),
      end: () => d.decode(),
    };
  },
};

/**
 * A folder's tokenizer as a codec. The ids decoded so far are decoded again for each new id, and only text
 * that no longer ends in a partial character (U+FFFD) is released, so multi-byte characters split across
 * byte-level tokens come out whole.
 */
export function tokenizerCodec(t: TextTokenizer): TokenCodec {
  return {
    encode: (text) => t.encode(text),
    decoder: () => {
      const ids: number[] = [];
      let sent = 0;
      const take = (whole: boolean): string => {
        const text = t.decode(ids);
        if (!whole && text.endsWith("\uFFFD")) return "";
        const out = text.slice(sent);
        sent = text.length;
        return out;
      };
      return {
        push: (id) => {
          ids.push(id);
          return take(false);
        },
        end: () => take(true),
      };
    },
  };
}
