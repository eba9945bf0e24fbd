/**
 * Text to token ids and back. Until a model's own tokenizer is read (tokenizer.json), ids are UTF-8 bytes,
 * which is what mixtune's text domains feed; a tokenizer plugs in here by implementing TokenCodec.
 */

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
