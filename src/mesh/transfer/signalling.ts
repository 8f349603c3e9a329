// WebRTC signalling over the mesh bus: offer, answer and ICE candidates travel as signed envelopes on
// `kiana/v1/<fleet>/<sender>/rtc/<recipient>` (a device may only publish under its own node), so only
// enrolled peers can open a peer connection to a node.
import type { MessageTransport } from "../ports.ts";
import { fleetPattern, nodeTopic } from "../topics.ts";
import type { Open, Seal } from "./ports.ts";

export const RTC_SIGNAL_TYPE = "xfer.rtc";
const KINDS = ["offer", "answer", "candidate", "bye"] as const;
export type RtcSignalKind = (typeof KINDS)[number];

export interface RtcSignal {
  /** One peer connection; chosen by the side that makes the offer. */
  session: string;
  kind: RtcSignalKind;
  /** Node name of the sender, where answers go. */
  from: string;
  sdp?: string;
  candidate?: string;
  mid?: string;
}

export interface RtcSignalling {
  send(toNode: string, signal: Omit<RtcSignal, "from">): Promise<void>;
  /** Each verified signal for this node, with the signer's fingerprint; returns an unsubscribe. */
  onSignal(handler: (signal: RtcSignal, fingerprint: string) => void): () => void;
  close(): Promise<void>;
}

export interface RtcSignallingOptions {
  transport: MessageTransport;
  fleet: string;
  node: string;
  seal: Seal;
  open: Open;
  /** Refused messages (bad signature, bad shape): reported, never thrown. */
  onRefused?: (detail: string) => void;
}

const SESSION = /^[0-9a-f]{16,64}$/;
const NODE = /^[a-z0-9][a-z0-9._-]*$/i;

/** Checks the shape of a signal from the wire; returns a reason when it is not one. */
export function parseSignal(value: unknown): RtcSignal | string {
  if (typeof value !== "object" || value === null) return "not an object";
  const s = value as Record<string, unknown>;
  if (typeof s.session !== "string" || !SESSION.test(s.session)) return "bad session";
  if (!KINDS.includes(s.kind as RtcSignalKind)) return "bad kind";
  if (typeof s.from !== "string" || !NODE.test(s.from)) return "bad from";
  const text = (k: string, max: number) =>
    s[k] === undefined || (typeof s[k] === "string" && s[k].length <= max);
  if (!text("sdp", 64 * 1024) || !text("candidate", 2048) || !text("mid", 64)) return "bad sdp/candidate/mid";
  if ((s.kind === "offer" || s.kind === "answer") && typeof s.sdp !== "string")
    return "description without sdp";
  if (s.kind === "candidate" && (typeof s.candidate !== "string" || typeof s.mid !== "string"))
    return "candidate without candidate/mid";
  return {
    session: s.session,
    kind: s.kind as RtcSignalKind,
    from: s.from,
    ...(typeof s.sdp === "string" ? { sdp: s.sdp } : {}),
    ...(typeof s.candidate === "string" ? { candidate: s.candidate } : {}),
    ...(typeof s.mid === "string" ? { mid: s.mid } : {}),
  };
}

export async function createRtcSignalling(opts: RtcSignallingOptions): Promise<RtcSignalling> {
  const handlers = new Set<(signal: RtcSignal, fingerprint: string) => void>();
  const refused = (detail: string) => {
    try {
      opts.onRefused?.(detail);
    } catch {
      // a reporting hook must not break signalling
    }
  };
  nodeTopic(opts.fleet, opts.node); // validates both names before they go into a pattern
  const unsubscribe = await opts.transport.subscribe(
    fleetPattern(opts.fleet, "+", "rtc", opts.node),
    (topic, payload) => {
      const opened = opts.open(payload);
      if (!opened.ok) return refused(`rtc signal refused: ${opened.detail}`);
      if (opened.type !== RTC_SIGNAL_TYPE) return refused(`rtc signal of type ${opened.type} ignored`);
      let parsed: RtcSignal | string;
      try {
        parsed = parseSignal(JSON.parse(new TextDecoder().decode(opened.body)));
      } catch {
        parsed = "not JSON";
      }
      if (typeof parsed === "string") return refused(`rtc signal from ${opened.from}: ${parsed}`);
      // The broker's ACL lets a device publish only under its own node: the topic vouches for `from`.
      if (topic.split("/")[3] !== parsed.from) return refused(`rtc signal claims ${parsed.from} on ${topic}`);
      for (const h of [...handlers]) {
        try {
          h(parsed, opened.from);
        } catch (err) {
          refused(`rtc signal handler failed: ${String(err)}`);
        }
      }
    },
  );
  return {
    async send(toNode, signal) {
      const body = new TextEncoder().encode(JSON.stringify({ ...signal, from: opts.node }));
      await opts.transport.publish(
        nodeTopic(opts.fleet, opts.node, "rtc", toNode),
        opts.seal(RTC_SIGNAL_TYPE, body),
        {
          qos: 1,
        },
      );
    },
    onSignal(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      await unsubscribe();
    },
  };
}
