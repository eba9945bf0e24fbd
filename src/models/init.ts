/** Deterministic weight initialisation from a seed. */

/** A seeded normal generator (mulberry32 + Box-Muller). */
export function normals(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** A stable 32-bit seed for one named tensor, so adding a parameter does not reshuffle the others. */
export function seedFor(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `n` normal values with standard deviation `std`. */
export function normalArray(n: number, std: number, seed: number): Float32Array {
  const next = normals(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * std;
  return out;
}
