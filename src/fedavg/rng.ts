// A small seeded generator for training (initial weights, shuffles, DP noise): the same seed gives
// the same model bit for bit, so a failing round replays exactly. Not for keys or masks.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  gaussian(): number;
  /** A uniform integer in [0, n). */
  int(n: number): number;
  /** Fisher–Yates in place. */
  shuffle<T>(xs: T[]): T[];
}

/** sfc32 seeded through splitmix32: fast, 128-bit state, good enough statistics for SGD. */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  // The second Box–Muller value is kept, so noise costs one log/sqrt pair per two samples.
  let spare: number | null = null;
  const next = () => u32() / 4294967296;
  const rng: Rng = {
    next,
    gaussian() {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return v;
      }
      let u = next();
      while (u === 0) u = next();
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    int: (n) => Math.floor(next() * n),
    shuffle(xs) {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = xs[i] as (typeof xs)[number];
        xs[i] = xs[j] as (typeof xs)[number];
        xs[j] = t;
      }
      return xs;
    },
  };
  return rng;
}
