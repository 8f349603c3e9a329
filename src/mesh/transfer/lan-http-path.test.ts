import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { isKianaError, KianaError } from "../../errors.ts";
import { mintHttpToken } from "./auth.ts";
import { createFileCatalog } from "./catalog.ts";
import {
  createLanHttpHandler,
  createLanHttpPath,
  startLanHttpServer,
  TRANSFER_ROUTE,
} from "./lan-http-path.ts";
import type { TransferOffer } from "./manifest.ts";
import { openStaging, type StagingFile } from "./staging.ts";
import { tempFolder, testPeers, writeTestFile } from "./transfer.test-helper.ts";

const MB = 1024 * 1024;
const { alice, bob, mallory, clock } = testPeers();
const tmp = tempFolder();
const catalog = createFileCatalog();
const source = join(tmp.dir, "update.bin");
let offer: TransferOffer;
let onlyAlice: TransferOffer;

beforeAll(async () => {
  await writeTestFile(source, 8 * MB, 11);
  offer = await catalog.share(source);
  onlyAlice = await catalog.share(source, { allow: [alice.fp] });
});
afterAll(() => tmp.remove());
// Every part file is closed after each test, whatever the test's outcome.
const sinks: StagingFile[] = [];
const stage = async (o: Parameters<typeof openStaging>[0]) => {
  const s = await openStaging(o);
  sinks.push(s);
  return s;
};
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close().catch(() => {});
});

const handler = () => createLanHttpHandler({ catalog, open: alice.auth.opener(), audience: alice.fp, clock });
const get = (id: string, authorization?: string, range = "bytes=0-") =>
  handler()(
    new Request(`http://alice.lan${TRANSFER_ROUTE}${id}`, {
      headers: { range, ...(authorization ? { authorization } : {}) },
    }),
  );
const token = (who = bob, over: Partial<{ id: string; audience: string; now: number; ttlMs: number }> = {}) =>
  mintHttpToken(who.auth.seal, {
    id: offer.id,
    audience: alice.fp,
    now: clock.now(),
    ttlMs: 30_000,
    ...over,
  });

describe("LAN HTTP authorisation", () => {
  test("without, or with a bad, expired or foreign-fleet token: 401", async () => {
    expect((await get(offer.id)).status).toBe(401);
    expect((await get(offer.id, "Bearer abc")).status).toBe(401);
    expect((await get(offer.id, token(mallory))).status).toBe(401);
    expect((await get(offer.id, token(bob, { now: clock.now() - 60_000 }))).status).toBe(401);
    expect((await get(offer.id, token(bob, { ttlMs: 3_600_000 }))).status).toBe(401);
    const good = token();
    const tampered = `${good.slice(0, -6)}${good.slice(-6) === "AAAAAA" ? "BBBBBB" : "AAAAAA"}`;
    expect((await get(offer.id, tampered)).status).toBe(401);
  }, 5000);

  test("valid but for another transfer, another node, or a peer not allowed: 403", async () => {
    expect((await get(offer.id, token(bob, { id: onlyAlice.id }))).status).toBe(403);
    expect((await get(offer.id, token(bob, { audience: bob.fp }))).status).toBe(403);
    expect((await get(onlyAlice.id, token(bob, { id: onlyAlice.id }))).status).toBe(403);
  }, 5000);

  test("a valid token gets 206 with the range asked for; a bad range 416", async () => {
    const res = await get(offer.id, token(), "bytes=100-199");
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 100-199/${offer.size}`);
    const want = await Bun.file(source).slice(100, 200).bytes();
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(want);
    expect((await get(offer.id, token(), `bytes=${offer.size}-`)).status).toBe(416);
  }, 5000);
});

describe("LAN HTTP path", () => {
  test("moves 8 MB on loopback with the sha256 matching", async () => {
    const server = startLanHttpServer({
      catalog,
      open: alice.auth.opener(),
      audience: alice.fp,
      clock,
      hostname: "127.0.0.1",
    });
    try {
      const path = createLanHttpPath({ seal: bob.auth.seal, clock });
      const dest = join(tmp.dir, "http-whole.bin");
      const sink = await stage({ dest, offer });
      const peer = { node: "alice", fingerprint: alice.fp, httpUrl: server.url };
      await path.fetch({ offer, peer, sink, signal: new AbortController().signal });
      expect(await sink.commit()).toBe(dest);
    } finally {
      await server.stop();
    }
  }, 10_000);

  test("a server closed mid-download: the path fails, and a new server resumes from the bytes on disk", async () => {
    const dest = join(tmp.dir, "http-cut.bin");
    let sink = await stage({ dest, offer });
    // The first server's connection drops after 2 MB of body: the socket is cut mid-download, which
    // closing a server cannot guarantee on loopback (the kernel may already hold the whole file).
    const handler = createLanHttpHandler({ catalog, open: alice.auth.opener(), audience: alice.fp, clock });
    const first = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const res = handler(req);
        const reader = res.body?.getReader();
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(ctl) {
            const next = await reader?.read();
            if (!next || next.done) return ctl.close();
            // Small pieces up to the cut, a pause so they reach the client, then the drop.
            for (let at = 0; at < next.value.length; at += 256 * 1024) {
              const piece = next.value.subarray(at, at + 256 * 1024);
              if (sent + piece.length > 2 * MB) {
                await Bun.sleep(50);
                return ctl.error(new Error("connection dropped"));
              }
              sent += piece.length;
              ctl.enqueue(piece);
            }
          },
        });
        return new Response(body, { status: res.status, headers: res.headers });
      },
    });
    const peer = { node: "alice", fingerprint: alice.fp, httpUrl: `http://127.0.0.1:${first.port}` };
    const path = createLanHttpPath({ seal: bob.auth.seal, clock });
    const err = await path.fetch({ offer, peer, sink, signal: new AbortController().signal }).catch((e) => e);
    await first.stop(true);
    expect(err).toBeInstanceOf(KianaError);
    const at = sink.offset;
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(offer.size);
    await sink.close();

    const second = startLanHttpServer({
      catalog,
      open: alice.auth.opener(),
      audience: alice.fp,
      clock,
      hostname: "127.0.0.1",
    });
    try {
      sink = await stage({ dest, offer });
      expect(sink.offset).toBe(at);
      await path.fetch({
        offer,
        peer: { ...peer, httpUrl: second.url },
        sink,
        signal: new AbortController().signal,
      });
      expect(await sink.commit()).toBe(dest);
    } finally {
      await second.stop();
    }
  }, 15_000);

  test("the receiver reports a refusal as TRANSFER_UNAUTHORIZED", async () => {
    const server = startLanHttpServer({
      catalog,
      open: alice.auth.opener(),
      audience: alice.fp,
      clock,
      hostname: "127.0.0.1",
    });
    try {
      const path = createLanHttpPath({ seal: mallory.auth.seal, clock });
      const sink = await stage({ dest: join(tmp.dir, "http-denied.bin"), offer });
      const peer = { node: "alice", fingerprint: alice.fp, httpUrl: server.url };
      const err = await path
        .fetch({ offer, peer, sink, signal: new AbortController().signal })
        .catch((e) => e);
      expect(isKianaError(err, "TRANSFER_UNAUTHORIZED")).toBe(true);
      expect(err.details.status).toBe(401);
      expect(sink.offset).toBe(0);
      await sink.close();
    } finally {
      await server.stop();
    }
  }, 5000);
});
