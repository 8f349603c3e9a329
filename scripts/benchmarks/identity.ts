// Benchmark: Ed25519 sign/verify and X25519 agreement through node:crypto (Bun's native code)
// against @noble/curves (pure JS), in one process. The identity module uses whichever is faster.
import { diffieHellman, generateKeyPairSync, sign, verify } from "node:crypto";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);
const message = new TextEncoder().encode(
  "kiana benchmark message: a signed envelope of typical size ".repeat(4),
);

/** Microseconds per call of fn, after a warm-up. */
function time(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(200, n); i++) fn(); // warm up the JIT
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - start) * 1000) / n;
}

const { privateKey: edPriv, publicKey: edPub } = generateKeyPairSync("ed25519");
const nobleSecret = ed25519.utils.randomSecretKey();
const noblePublic = ed25519.getPublicKey(nobleSecret);
const nodeSig = sign(null, message, edPriv);
const nobleSig = ed25519.sign(message, nobleSecret);

const { privateKey: xPriv } = generateKeyPairSync("x25519");
const peer = generateKeyPairSync("x25519").publicKey;
const xSecret = x25519.utils.randomSecretKey();
const xPeer = x25519.getPublicKey(x25519.utils.randomSecretKey());

// Sanity: both paths compute real results (a benchmark of a broken call measures nothing).
if (!verify(null, message, edPub, nodeSig) || !ed25519.verify(nobleSig, message, noblePublic)) {
  throw new Error("signature check failed");
}

const rows: [string, number, number][] = [
  [
    "ed25519 sign",
    time(ROUNDS, () => sign(null, message, edPriv)),
    time(ROUNDS, () => ed25519.sign(message, nobleSecret)),
  ],
  [
    "ed25519 verify",
    time(ROUNDS, () => verify(null, message, edPub, nodeSig)),
    time(ROUNDS, () => ed25519.verify(nobleSig, message, noblePublic)),
  ],
  [
    "x25519 agree",
    time(ROUNDS, () => diffieHellman({ privateKey: xPriv, publicKey: peer })),
    time(ROUNDS, () => x25519.getSharedSecret(xSecret, xPeer)),
  ],
];

console.log(`identity crypto, ${ROUNDS} operations each (µs per operation, lower is better)`);
console.log("| operation | node:crypto | @noble/curves | noble / node |");
console.log("|---|---:|---:|---:|");
for (const [op, node, noble] of rows) {
  console.log(`| ${op} | ${node.toFixed(1)} | ${noble.toFixed(1)} | ${(noble / node).toFixed(1)}× |`);
}
