// The hub's voice side: a link to every configured or discovered satellite, each running the
// STT → assistant → TTS pipeline, and timers announced on the satellite whose utterance set them.
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { MdnsFactory } from "../satellite/advertise.ts";
import type { SpeechToText, TextToSpeech } from "../speech-ports.ts";
import { WYOMING_SATELLITE_PORT } from "../wyoming/index.ts";
import { browseWyoming } from "./discovery.ts";
import { createSatelliteLink, type LinkState, type SatelliteLink } from "./satellite-link.ts";
import { createSatelliteSession, type HubAssistant, type UtteranceResult } from "./satellite-session.ts";

export interface VoiceHubOptions {
  /** `host` or `host:port` of satellites to drive (port 10700 when left out). */
  satellites?: readonly string[];
  /** Also drive satellites found as `_wyoming._tcp` over mDNS. */
  discover?: boolean;
  mdnsFactory?: MdnsFactory;
  stt: SpeechToText;
  tts: TextToSpeech;
  assistant: HubAssistant;
  voice?: string;
  voices?: Readonly<Record<string, string>>;
  log: Logger;
  clock?: Clock;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onResult?(result: UtteranceResult): void;
  onLinkState?(address: string, state: LinkState): void;
}

export interface VoiceHub {
  links(): readonly SatelliteLink[];
  /** A timer rang: announced on the satellite that started it, else on every running satellite. */
  timerRang(name: string, announcement: string): Promise<void>;
  stop(): Promise<void>;
}

/** "10.0.0.5", "10.0.0.5:10700", "[fe80::1]:10700" → host and port. */
export function parseSatelliteAddress(address: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1] as string, port: Number(v6[2] ?? WYOMING_SATELLITE_PORT) };
  const [host, port] =
    address.includes(":") && address.split(":").length === 2 ? address.split(":") : [address];
  return { host: host as string, port: port ? Number(port) : WYOMING_SATELLITE_PORT };
}

export function createVoiceHub(opts: VoiceHubOptions): VoiceHub {
  const { log } = opts;
  const links = new Map<string, SatelliteLink>();
  /** Timer name → the satellite (link address) whose utterance started it. */
  const timerOwners = new Map<string, string>();

  const add = (host: string, port: number) => {
    const address = `${host}:${port}`;
    if (links.has(address)) return;
    const link = createSatelliteLink({
      host,
      port,
      log,
      clock: opts.clock,
      minBackoffMs: opts.minBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
      onState: (state) => opts.onLinkState?.(address, state),
      session: (name, send) =>
        createSatelliteSession({
          satellite: name,
          send,
          stt: opts.stt,
          tts: opts.tts,
          assistant: opts.assistant,
          voice: opts.voice,
          voices: opts.voices,
          log,
          clock: opts.clock,
          onTimerStarted: (timer) => timerOwners.set(timer, address),
          onResult: opts.onResult,
        }),
    });
    links.set(address, link);
  };

  for (const address of opts.satellites ?? []) {
    const { host, port } = parseSatelliteAddress(address);
    add(host, port);
  }
  // A discovered satellite that disappears keeps its link: it retries with backoff until it is back.
  const browser = opts.discover
    ? browseWyoming({
        log,
        clock: opts.clock,
        mdnsFactory: opts.mdnsFactory,
        onChange: (found) => {
          for (const f of found) add(f.host, f.port);
        },
      })
    : null;

  return {
    links: () => [...links.values()],
    async timerRang(name, announcement) {
      const owner = timerOwners.get(name);
      timerOwners.delete(name);
      const link = owner ? links.get(owner) : undefined;
      if (link && (await link.announce(announcement, name))) return;
      // The satellite that set it is gone: better heard elsewhere than not at all.
      const running = [...links.values()].filter((l) => l.state.state === "running");
      if (running.length === 0) log.warn({ timer: name }, "a timer rang with no satellite to announce it");
      await Promise.all(running.map((l) => l.announce(announcement, name)));
    },
    async stop() {
      await browser?.stop();
      for (const link of links.values()) link.stop();
    },
  };
}
