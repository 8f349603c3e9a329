// The satellite as a Wyoming TCP server, as wyoming-satellite is: Home Assistant or our hub connects,
// asks `describe`, sends `run-satellite`, and from then on that connection hears the satellite.
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import { VERSION } from "../../version.ts";
import { VOICE_SAMPLE_RATE } from "../audio/pcm.ts";
import {
  createWyomingServer,
  type Info,
  type WyomingConnection,
  type WyomingServer,
} from "../wyoming/index.ts";
import type { Satellite } from "./satellite.ts";

// No public project page yet: the device's own admin address stands in.
const KIANA = { name: "kiana", url: "http://kiana.local" };

export interface SatelliteInfoSpec {
  /** Shown in Home Assistant, e.g. the node name. */
  name: string;
  area?: string;
  wakeWords: readonly string[];
  hasVad: boolean;
}

/** What Home Assistant reads to adopt us: the `satellite` entry, our mic and speaker formats. */
export function satelliteInfo(spec: SatelliteInfoSpec): Info {
  const format = { rate: VOICE_SAMPLE_RATE, width: 2, channels: 1 };
  return {
    asr: [],
    tts: [],
    handle: [],
    intent: [],
    // Empty like wyoming-satellite's: a listed wake program would make Home Assistant add a wake service.
    wake: [],
    mic: [{ name: "arecord", attribution: KIANA, installed: true, mic_format: format }],
    snd: [{ name: "aplay", attribution: KIANA, installed: true, snd_format: format }],
    satellite: {
      name: spec.name,
      attribution: KIANA,
      installed: true,
      description: "kiana satellite",
      version: VERSION,
      area: spec.area ?? null,
      has_vad: spec.hasVad,
      active_wake_words: [...spec.wakeWords],
      max_active_wake_words: spec.wakeWords.length,
      supports_trigger: true,
    },
  };
}

export interface SatelliteServerOptions {
  satellite: Satellite;
  info: () => Info;
  host?: string;
  /** Default 10700; 0 picks a free port. */
  port?: number;
  log: Logger;
  clock?: Clock;
}

export function createSatelliteServer(opts: SatelliteServerOptions): WyomingServer {
  const { satellite, log } = opts;
  // Only the connection that last sent run-satellite drives the satellite; others may just describe.
  let current: { conn: WyomingConnection; detach: () => void } | null = null;
  const leave = (conn: WyomingConnection) => {
    if (current?.conn !== conn) return;
    current.detach();
    current = null;
  };
  return createWyomingServer({
    host: opts.host,
    port: opts.port,
    info: opts.info,
    log,
    clock: opts.clock,
    onEvent(conn, event) {
      if (event.type === "run-satellite") {
        if (current?.conn !== conn) {
          if (current)
            log.info({ from: current.conn.remote, to: conn.remote }, "another server runs the satellite");
          current?.detach();
          current = { conn, detach: satellite.attach((e) => conn.send(e)) };
          log.info({ server: conn.remote }, "satellite running");
        }
        return;
      }
      if (event.type === "pause-satellite") return leave(conn);
      if (current?.conn !== conn) return;
      return satellite.receive(event);
    },
    onDisconnect: (conn) => leave(conn),
  });
}
