import { describe, expect, test } from "bun:test";
import { enrolNode, type TestNode, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { createPeerTable, type PeerState, peerState, peerStateOf } from "./peers.ts";

const authority = testFleet("home");
const [alice, bob] = ["alice", "bob"].map((n) => enrolNode(authority, n, { role: "hub" })) as [
  TestNode,
  TestNode,
];

describe("peer table", () => {
  test("healthy, then degraded, then failed as heartbeats stop; healthy again on the next one", () => {
    const clock = createManualClock();
    const peers = createPeerTable({ clock, intervalMs: 10_000 });
    const changes: [string, PeerState, PeerState | undefined][] = [];
    peers.onChange((p, prev) => changes.push([p.name, p.state, prev]));
    peers.heard(alice.cert, { version: "1.2.0", addresses: ["192.168.1.20"], rttMs: 4 });
    const state = () => peers.get(alice.fp)?.state;

    expect(peers.list()).toMatchObject([
      { fingerprint: alice.fp, name: "alice", role: "hub", state: "healthy", version: "1.2.0", rttMs: 4 },
    ]);
    clock.advance(20_000);
    expect(state()).toBe("healthy"); // the second beat may still be on its way
    clock.advance(1);
    expect(state()).toBe("degraded");
    clock.advance(30_000);
    expect(state()).toBe("failed");
    expect(peers.get(alice.fp)?.lastSeen).toBe(clock.now() - 50_001);

    peers.heard(alice.cert, { version: "1.2.1" });
    expect(state()).toBe("healthy");
    expect(peers.get(alice.fp)).toMatchObject({ version: "1.2.1", addresses: ["192.168.1.20"] });
    expect(changes).toEqual([
      ["alice", "healthy", undefined],
      ["alice", "degraded", "healthy"],
      ["alice", "failed", "degraded"],
      ["alice", "healthy", "failed"],
    ]);
  });

  test("regular heartbeats keep a peer healthy and raise no changes", () => {
    const clock = createManualClock();
    const peers = createPeerTable({ clock });
    let changes = 0;
    peers.onChange(() => changes++);
    for (let i = 0; i < 20; i++) {
      peers.heard(bob.cert);
      clock.advance(10_000);
    }
    expect(peers.get(bob.fp)?.state).toBe("healthy");
    expect(changes).toBe(1);
  });

  test("custom thresholds; list is sorted; prune forgets the silent", () => {
    const clock = createManualClock();
    const peers = createPeerTable({ clock, intervalMs: 1_000, degradedAfterMissed: 1, failedAfterMissed: 3 });
    peers.heard(bob.cert);
    clock.advance(1_500);
    peers.heard(alice.cert);
    expect(peers.list().map((p) => [p.name, p.state])).toEqual([
      ["alice", "healthy"],
      ["bob", "degraded"],
    ]);
    clock.advance(2_000);
    expect(peers.list().map((p) => p.state)).toEqual(["degraded", "failed"]);
    expect(peers.prune(3_000)).toEqual([bob.fp]);
    expect(peers.list().map((p) => p.name)).toEqual(["alice"]);
  });

  test("peerState is a pure function of silence", () => {
    const limits = { intervalMs: 10, degradedAfterMissed: 2, failedAfterMissed: 5 };
    expect([0, 20, 21, 50, 51].map((ms) => peerState(ms, limits))).toEqual([
      "healthy",
      "healthy",
      "degraded",
      "degraded",
      "failed",
    ]);
  });

  test("stop cancels the timers; a throwing listener does not stop the others", () => {
    const clock = createManualClock();
    const peers = createPeerTable({ clock });
    const seen: string[] = [];
    peers.onChange(() => {
      throw new Error("broken listener");
    });
    peers.onChange((p) => seen.push(p.state));
    peers.heard(bob.cert);
    peers.stop();
    clock.advance(120_000);
    expect(seen).toEqual(["healthy"]);
    expect(peers.get(bob.fp)?.state).toBe("failed"); // still derived from time
  });
});

describe("peerStateOf: heartbeats and the broker's presence together", () => {
  const heard = (state: string, lastSeen: number) => ({ state, lastSeen });
  test.each([
    ["heartbeats only", heard("healthy", 100), undefined, "healthy"],
    ["presence only", undefined, { state: "online" as const, at: 50 }, "online"],
    ["neither", undefined, undefined, "enrolled"],
    [
      "a last will after the last beat: gone now",
      heard("healthy", 100),
      { state: "offline" as const, at: 120 },
      "offline",
    ],
    [
      "a beat after the last will: back",
      heard("healthy", 130),
      { state: "offline" as const, at: 120 },
      "healthy",
    ],
    [
      "online presence never overrides beats",
      heard("degraded", 100),
      { state: "online" as const, at: 150 },
      "degraded",
    ],
  ])("%s", (_, h, p, want) => {
    expect(peerStateOf(h, p)).toBe(want);
  });
});
