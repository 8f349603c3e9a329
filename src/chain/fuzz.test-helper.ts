// Mutations for the decoder fuzz tests: random bytes, bit flips, truncation, garbage tails and
// overwritten spans, chosen by a seeded byte source so a failure replays exactly.

export function mutate(valid: Uint8Array, rand: (n: number) => Uint8Array, r: number): Uint8Array {
  const pick = (n: number) => (rand(4).reduce((a, b) => a * 256 + b, 0) >>> 0) % Math.max(1, n);
  switch (r % 5) {
    case 0: // fresh random bytes of a random length
      return rand(pick(600));
    case 1: {
      // one to four flipped bits
      const out = Uint8Array.from(valid);
      for (let i = 0, n = 1 + pick(4); i < n; i++) {
        const at = pick(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << pick(8));
      }
      return out;
    }
    case 2: // truncated
      return valid.subarray(0, pick(valid.length));
    case 3: {
      // extended with garbage
      const out = new Uint8Array(valid.length + 1 + pick(64));
      out.set(valid);
      out.set(rand(out.length - valid.length), valid.length);
      return out;
    }
    default: {
      // a random span overwritten, lengths included
      const out = Uint8Array.from(valid);
      const at = pick(out.length);
      out.set(rand(Math.min(8, out.length - at)), at);
      return out;
    }
  }
}
