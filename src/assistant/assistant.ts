// The assistant: matches a transcript against the built-in intents, runs the handler with the
// ports it was given (clock, facts, device publishing) and answers in short speakable English.
// Anything no intent matches goes to the language model when there is one.
import { describeError, kianaError } from "../errors.ts";
import { type Clock, systemClock } from "../platform/clock.ts";
import { builtinIntents, INTENT } from "./builtin-intents.ts";
import { checkDevices, type DeviceState, deviceCommand } from "./device-control.ts";
import {
  DEFAULT_SPEECH_WORDS,
  type DeviceEntity,
  normalizeText,
  type SpeechWords,
  UNIT_MS,
} from "./entities.ts";
import { type FactsPort, recallWords } from "./facts.ts";
import { toJsgf } from "./grammar.ts";
import { type Intent, matchIntent, type SlotValues } from "./intents.ts";
import { fallback, type LlmFallback } from "./llm-fallback.ts";
import {
  createTimerKeeper,
  durationName,
  formatDuration,
  MAX_TIMER_MS,
  MIN_TIMER_MS,
  type RunningTimer,
  type TimerRang,
} from "./timers.ts";

export interface AssistantOptions {
  clock?: Clock;
  /** Devices from config; their names become the device slot and part of the grammar. */
  devices?: readonly DeviceEntity[];
  /** Sends a device command; without it the assistant says it cannot switch devices. */
  publish?: (topic: string, payload: string) => Promise<void>;
  /** Fleet and the hub's own node: the topic levels of device commands. Required with publish. */
  fleet?: string;
  node?: string;
  facts?: FactsPort;
  llm?: LlmFallback;
  /** A timer rang; `announcement` is what to say ("The pasta timer is done."). */
  onTimer?: (e: TimerRang & { announcement: string }) => void;
  /** The things, places and timer names speech can name; typed text may use any words. */
  speechWords?: Partial<SpeechWords>;
  /** IANA zone for spoken times and dates; default: the system's. */
  timeZone?: string;
  /** Longer input is refused before matching or reaching the model (default 1000 characters). */
  maxInputChars?: number;
}

export interface AssistantResult {
  /** The matched intent, or null when none matched. */
  intent: string | null;
  slots: SlotValues;
  reply: string;
  /** Who answered: an intent handler, the language model, nobody, or the input was refused. */
  source: "intent" | "llm" | "none" | "rejected";
  /** False when the request was refused, not understood or could not be carried out. */
  ok: boolean;
  /** Recalled facts, newest first. */
  facts?: string[];
  /** What went wrong underneath, for logs; never spoken. */
  error?: string;
}

export interface HandleOptions {
  signal?: AbortSignal;
  /** Pieces of a streamed model answer as they arrive, so speech can start early. */
  onText?: (chunk: string) => void;
}

export interface Assistant {
  readonly intents: readonly Intent[];
  handle(text: string, opts?: HandleOptions): Promise<AssistantResult>;
  /** The JSGF grammar of this assistant's intents and devices. */
  grammar(): string;
  timers(): RunningTimer[];
  /** Stops every timer; nothing rings afterwards. */
  close(): void;
}

export const DEFAULT_MAX_INPUT_CHARS = 1000;

type Outcome = Omit<AssistantResult, "intent" | "slots" | "source">;
const said = (reply: string, ok = true): Outcome => ({ reply, ok });

/** "the kitchen light", without doubling an article the name already has. */
const the = (name: string) => (/^the\s/i.test(name) ? name : `the ${name}`);
/** "There is 1 minute left" but "There are 4 minutes and 10 seconds left". */
const isAre = (duration: string) => (duration.startsWith("1 ") ? "is" : "are");
/** Turns the speaker's words into the assistant's: "my keys" is "your keys" when said back. */
const swapPerson = (text: string) =>
  text.replace(
    /\b(my|our|i|me|mine)\b/g,
    (w) => ({ my: "your", our: "your", i: "you", me: "you", mine: "yours" })[w] ?? w,
  );

export function createAssistant(opts: AssistantOptions = {}): Assistant {
  const clock = opts.clock ?? systemClock;
  const devices = opts.devices ?? [];
  checkDevices(devices);
  if (opts.publish && devices.length > 0) {
    if (!opts.fleet) throw kianaError("CONFIG_INVALID", "device control needs the fleet name for its topics");
    if (!opts.node && devices.some((d) => d.node === undefined))
      throw kianaError("CONFIG_INVALID", "devices without a node need the hub's node name");
  }
  const intents = builtinIntents(devices, { ...DEFAULT_SPEECH_WORDS, ...opts.speechWords });
  const maxChars = opts.maxInputChars ?? DEFAULT_MAX_INPUT_CHARS;
  const named = new Set<string>();
  const timerLabel = (name: string) => (named.has(name) ? `the ${name} timer` : `your ${name} timer`);
  const keeper = createTimerKeeper({
    clock,
    onRing: (e) => {
      const announcement = `${capitalise(timerLabel(e.name))} is done.`;
      named.delete(e.name);
      opts.onTimer?.({ ...e, announcement });
    },
  });
  const timeText = (options: Intl.DateTimeFormatOptions) =>
    new Intl.DateTimeFormat("en-US", { ...options, timeZone: opts.timeZone })
      .format(clock.now())
      // ICU puts a narrow no-break space before AM/PM; speech engines read plain spaces best.
      .replace(/[\u202f\u00a0]/g, " ");
  let grammar: string | undefined;

  const handlers: Record<string, (slots: SlotValues) => Promise<Outcome>> = {
    [INTENT.time]: async () => said(`It is ${timeText({ hour: "numeric", minute: "2-digit" })}.`),
    [INTENT.date]: async () =>
      said(`Today is ${timeText({ weekday: "long", month: "long", day: "numeric", year: "numeric" })}.`),
    async [INTENT.timerStart](slots) {
      const ms = Math.round(Number(slots.amount) * (UNIT_MS[String(slots.unit)] ?? Number.NaN));
      if (!(ms >= MIN_TIMER_MS && ms <= MAX_TIMER_MS))
        return said("I can only set timers from 1 second to 24 hours.", false);
      const given = timerName(slots.name);
      const name = given ?? durationName(ms);
      if (given) named.add(name);
      else named.delete(name);
      keeper.start(name, ms);
      return said(
        given
          ? `The ${name} timer is set for ${formatDuration(ms)}.`
          : `Timer set for ${formatDuration(ms)}.`,
      );
    },
    async [INTENT.timerCancel](slots) {
      const name = timerName(slots.name);
      if (name)
        return keeper.cancel(name)
          ? said(`The ${name} timer is cancelled.`)
          : said(`There is no ${name} timer.`, false);
      const n = keeper.cancelAll();
      if (n === 0) return said("There is no timer running.", false);
      return said(n === 1 ? "Timer cancelled." : `All ${n} timers cancelled.`);
    },
    async [INTENT.timerRemaining](slots) {
      const name = timerName(slots.name);
      if (name) {
        const t = keeper.get(name);
        if (!t) return said(`There is no ${name} timer.`, false);
        const left = formatDuration(t.remainingMs);
        return said(`There ${isAre(left)} ${left} left on the ${name} timer.`);
      }
      const all = keeper.list();
      if (all.length === 0) return said("There is no timer running.", false);
      if (all.length === 1) {
        const left = formatDuration((all[0] as RunningTimer).remainingMs);
        return said(`There ${isAre(left)} ${left} left.`);
      }
      const parts = all
        .slice(0, 3)
        .map((t) => `${timerLabel(t.name)} has ${formatDuration(t.remainingMs)} left`);
      return said(`${capitalise(parts.slice(0, -1).join(", "))}, and ${parts.at(-1)}.`);
    },
    async [INTENT.remember](slots) {
      if (!opts.facts) return said("I cannot remember things on this device.", false);
      await opts.facts.remember(String(slots.fact));
      return said("Okay, I will remember that.");
    },
    async [INTENT.recall](slots) {
      if (!opts.facts) return said("I cannot remember things on this device.", false);
      const topic = String(slots.topic);
      const facts = await opts.facts.recall(recallWords(topic));
      const newest = facts[0]?.trim().replace(/[.!?]+$/, "");
      if (!newest) return { ...said(`I do not know anything about ${swapPerson(topic)}.`), facts };
      return { ...said(`You told me: ${newest}.`), facts };
    },
    async [INTENT.deviceSet](slots) {
      const device = devices.find((d) => d.id === slots.device);
      const state = slots.state as DeviceState;
      if (!device) return said("I do not know that device.", false);
      if (!opts.publish || !opts.fleet) return said("I cannot switch devices from here.", false);
      const command = deviceCommand(device, state, { fleet: opts.fleet, defaultNode: opts.node ?? "" });
      try {
        await opts.publish(command.topic, command.payload);
      } catch (err) {
        return { ...said(`Sorry, I could not reach ${the(device.name)}.`, false), error: describeError(err) };
      }
      return said(`Okay, turning ${state} ${the(device.name)}.`);
    },
  };

  async function handle(text: string, hopts: HandleOptions = {}): Promise<AssistantResult> {
    const refuse = (reply: string): AssistantResult => ({
      intent: null,
      slots: {},
      reply,
      source: "rejected",
      ok: false,
    });
    if (typeof text !== "string" || normalizeText(text).length === 0)
      return refuse("Sorry, I did not hear anything.");
    if (text.length > maxChars) return refuse("That is too long for me. Please say it in fewer words.");
    const match = matchIntent(text, intents);
    if (!match)
      return {
        intent: null,
        slots: {},
        source: opts.llm ? "llm" : "none",
        ...(await fallback(text, opts.llm, hopts)),
      };
    const base = { intent: match.intent.name, slots: match.slots, source: "intent" as const };
    const handler = handlers[match.intent.name];
    if (!handler) return { ...base, ...said("Sorry, I cannot do that yet.", false) };
    try {
      return { ...base, ...(await handler(match.slots)) };
    } catch (err) {
      return { ...base, ...said("Sorry, something went wrong.", false), error: describeError(err) };
    }
  }

  return {
    intents,
    handle,
    grammar: () => {
      grammar ??= toJsgf(intents);
      return grammar;
    },
    timers: () => keeper.list(),
    close: () => void keeper.cancelAll(),
  };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A spoken timer name without a leading "the": "cancel the the pasta timer" is not a thing. */
function timerName(slot: string | number | undefined): string | undefined {
  const name =
    slot === undefined
      ? ""
      : String(slot)
          .replace(/^(the|my)\s+/, "")
          .trim();
  return name === "" ? undefined : name;
}
