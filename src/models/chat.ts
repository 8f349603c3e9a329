// Chat turns on the loaded GGUF model. A bounded LRU of context sequences, each remembering the
// conversation its KV cache holds, lets a follow-up turn evaluate only the tokens it adds.
import type * as NodeLlamaCpp from "node-llama-cpp";
import type { EngineLog } from "../platform/engines.ts";
import {
  type InputProblem,
  type LlamaEngine,
  type LoadedLlama,
  llamaFailure,
  type ModelRef,
  sequencesFor,
} from "./llama-engine.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatRequest {
  model: ModelRef;
  /** A trailing assistant message is a prefill: the reply continues it. */
  messages: readonly ChatMessage[];
  /** Default: what the context has left after the prompt. */
  maxTokens?: number;
  /** 0, the default, is greedy. */
  temperature?: number;
  topP?: number;
  stop?: readonly string[];
  seed?: number;
  /** Aborting (a client that went away) ends generation early; the result then says "abort". */
  signal?: AbortSignal;
}

export interface ChatResult {
  text: string;
  finishReason: "stop" | "length" | "abort";
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens evaluated in this turn; the rest were already in the sequence's KV cache. */
  evaluatedTokens: number;
}

/** Iterating yields text deltas as they are generated; generation runs whether or not anyone iterates. */
export interface ChatTurn extends AsyncIterable<string> {
  ok: true;
  promptTokens: number;
  /** Settles when generation ends, aborted or not; rejects when the engine fails. */
  result: Promise<ChatResult>;
}

export interface ChatService {
  /** Loads the model if needed and checks the prompt against its context before anything streams. */
  start(req: ChatRequest): Promise<ChatTurn | InputProblem>;
  stats(): { sequences: number; busy: number; capacity: number };
  /** Frees the chat context. Contexts must be disposed, not dropped: node-llama-cpp cannot dispose a
   * model once a dropped context of it has been garbage-collected (the dispose never settles). */
  dispose(): Promise<void>;
}

export interface LlamaChatOptions {
  engine: LlamaEngine;
  /** Upper bound on cached conversations; memory may allow fewer (see `sequencesFor`). Default 4. */
  maxSequences?: number;
  log?: EngineLog;
}

interface Slot {
  chat: NodeLlamaCpp.LlamaChat;
  sequence: NodeLlamaCpp.LlamaContextSequence;
  /** The conversation the KV cache holds, as messages; what the next request is matched against. */
  history: ChatMessage[];
  busy: boolean;
  lastUsed: number;
}

interface State {
  loaded: LoadedLlama;
  context: NodeLlamaCpp.LlamaContext;
  wrapper: NodeLlamaCpp.ChatWrapper;
  capacity: number;
  slots: Slot[];
  waiters: (() => void)[];
}

const same = (a: ChatMessage, b: ChatMessage) => a.role === b.role && a.content === b.content;
const isPrefix = (h: readonly ChatMessage[], m: readonly ChatMessage[]) =>
  h.length > 0 && h.length <= m.length && h.every((x, i) => same(x, m[i] as ChatMessage));

function toHistory(messages: readonly ChatMessage[]): NodeLlamaCpp.ChatHistoryItem[] {
  const items: NodeLlamaCpp.ChatHistoryItem[] = messages.map((m) =>
    m.role === "assistant" ? { type: "model", response: [m.content] } : { type: m.role, text: m.content },
  );
  if (messages.at(-1)?.role !== "assistant") items.push({ type: "model", response: [] });
  return items;
}

/** Deltas buffered between the generating engine and whoever reads the turn; leaving early stops it. */
function deltaQueue(onEarlyExit: () => void) {
  let ctl: ReadableStreamDefaultController<string> | null = null;
  let open = true;
  const stream = new ReadableStream<string>({
    start: (c) => {
      ctl = c;
    },
    cancel: () => {
      open = false;
      onEarlyExit();
    },
  });
  return {
    push: (s: string) => open && ctl?.enqueue(s),
    end(err: unknown) {
      if (open) err ? ctl?.error(err) : ctl?.close();
      open = false;
    },
    stream,
  };
}

export function createLlamaChat(opts: LlamaChatOptions): ChatService {
  const { engine, log } = opts;
  const maxSequences = Math.max(1, opts.maxSequences ?? 4);
  let state: { loaded: LoadedLlama; ready: Promise<State>; value: State | null } | null = null;
  let tick = 0;

  async function makeState(loaded: LoadedLlama): Promise<State> {
    const { mod, model, plan, ref } = loaded;
    const capacity = sequencesFor(plan, maxSequences);
    const slots: Slot[] = [];
    // node-llama-cpp holds a decode for one event-loop turn unless every sequence has one queued, to
    // batch them; with one conversation generating, that wait would be added to every token.
    const dispatchSchedule = (dispatch: () => void) =>
      slots.filter((s) => s.busy).length > 1 ? setImmediate(dispatch) : dispatch();
    try {
      const context = await model.createContext({
        contextSize: plan.contextSize,
        sequences: capacity,
        threads: plan.threads,
        batching: { dispatchSchedule },
      });
      const wrapper = mod.resolveChatWrapper(model);
      log?.info({ model: ref.id, sequences: capacity, contextSize: context.contextSize }, "chat ready");
      return { loaded, context, wrapper, capacity, slots, waiters: [] };
    } catch (cause) {
      throw llamaFailure(mod, ref, plan, `create a context of ${capacity} sequences`, cause);
    }
  }

  function stateFor(loaded: LoadedLlama): Promise<State> {
    // A different model was loaded: the old context went with the old model.
    if (state?.loaded === loaded) return state.ready;
    const mine = { loaded, ready: makeState(loaded), value: null as State | null };
    state = mine;
    mine.ready
      .then((st) => Object.assign(mine, { value: st }))
      .catch(() => {
        if (state === mine) state = null;
      });
    return mine.ready;
  }

  /** A free sequence whose conversation the request continues, else a new one, else the LRU one. */
  function pick(st: State, messages: readonly ChatMessage[]): Slot | null {
    const free = st.slots.filter((s) => !s.busy);
    const continued = free
      .filter((s) => isPrefix(s.history, messages))
      .sort((a, b) => b.history.length - a.history.length)[0];
    if (continued) return continued;
    if (st.slots.length < st.capacity) {
      const sequence = st.context.getSequence();
      const chat = new st.loaded.mod.LlamaChat({ contextSequence: sequence, chatWrapper: st.wrapper });
      const slot = { chat, sequence, history: [], busy: false, lastUsed: 0 };
      st.slots.push(slot);
      return slot;
    }
    return free.sort((a, b) => a.lastUsed - b.lastUsed)[0] ?? null;
  }

  async function takeSlot(st: State, messages: readonly ChatMessage[], signal: AbortSignal): Promise<Slot> {
    for (;;) {
      signal.throwIfAborted();
      const slot = pick(st, messages);
      if (slot) {
        slot.busy = true;
        slot.lastUsed = ++tick;
        return slot;
      }
      await new Promise<void>((resolve) => {
        st.waiters.push(resolve);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  async function generate(
    st: State,
    req: ChatRequest,
    promptTokens: number,
    maxTokens: number,
    queue: ReturnType<typeof deltaQueue>,
    signal: AbortSignal,
  ): Promise<ChatResult> {
    let slot: Slot | null = null;
    let before = { usedInputTokens: 0, usedOutputTokens: 0 };
    // Counted by node-llama-cpp's meter: text held back (a partial stop string, half a UTF-8
    // character) never reaches onToken/onTextChunk but was generated all the same.
    const done = (text: string, finishReason: ChatResult["finishReason"]): ChatResult => {
      const used = slot ? slot.sequence.tokenMeter.diff(before) : before;
      const { usedInputTokens: evaluatedTokens, usedOutputTokens: completionTokens } = used;
      return { text, finishReason, promptTokens, completionTokens, evaluatedTokens };
    };
    try {
      slot = await takeSlot(st, req.messages, signal);
    } catch {
      return done("", "abort");
    }
    before = slot.sequence.tokenMeter.getState();
    const last = req.messages.at(-1);
    const prefill = last?.role === "assistant" ? last.content : null;
    try {
      const res = await slot.chat.generateResponse(toHistory(req.messages), {
        onTextChunk: queue.push,
        maxTokens,
        temperature: req.temperature ?? 0,
        topP: req.topP,
        seed: req.seed,
        customStopTriggers: req.stop && req.stop.length > 0 ? req.stop : undefined,
        signal,
        stopOnAbortSignal: true,
      });
      const past = req.messages.slice(0, prefill === null ? undefined : -1);
      slot.history = [...past, { role: "assistant", content: (prefill ?? "") + res.response }];
      const reason = res.metadata.stopReason;
      const finish = reason === "abort" ? "abort" : reason === "maxTokens" ? "length" : "stop";
      return done(res.response, finish);
    } catch (cause) {
      // The KV cache now holds an unknown prefix: nothing may be matched against it.
      slot.history = [];
      if (signal.aborted) return done("", "abort");
      throw llamaFailure(st.loaded.mod, req.model, st.loaded.plan, "generate", cause);
    } finally {
      slot.busy = false;
      for (const wake of st.waiters.splice(0)) wake();
    }
  }

  return {
    async start(req) {
      const lease = await engine.acquire(req.model);
      let handedOver = false;
      try {
        const st = await stateFor(lease.loaded);
        const history = toHistory(req.messages);
        const text = st.wrapper.generateContextState({ chatHistory: history }).contextText;
        const promptTokens = text.tokenize(lease.loaded.model.tokenizer).length;
        // One token of slack: generation must never reach a context shift, which would drop turns.
        const room = st.context.contextSize - 1 - promptTokens;
        const limit = `the context of ${req.model.id} holds ${st.context.contextSize} tokens`;
        if (room <= 0) {
          const message = `the messages take ${promptTokens} tokens; ${limit}`;
          return { ok: false, code: "context_length_exceeded", param: "messages", message };
        }
        if (req.maxTokens !== undefined && req.maxTokens > room) {
          const message = `${promptTokens} prompt tokens plus max_tokens ${req.maxTokens} exceed ${limit}`;
          return { ok: false, code: "context_length_exceeded", param: "max_tokens", message };
        }
        const stop = new AbortController();
        const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;
        const queue = deltaQueue(() => stop.abort());
        const result = generate(st, req, promptTokens, req.maxTokens ?? room, queue, signal);
        handedOver = true;
        result.then(
          () => queue.end(null),
          (err: unknown) => queue.end(err),
        );
        result.finally(lease.release).catch(() => undefined);
        return {
          ok: true,
          promptTokens,
          result,
          [Symbol.asyncIterator]: () => queue.stream[Symbol.asyncIterator](),
        };
      } finally {
        if (!handedOver) lease.release();
      }
    },
    async dispose() {
      const st = await state?.ready.catch(() => null);
      state = null;
      await st?.context.dispose();
    },
    stats() {
      const st = (state?.loaded === engine.current() && state?.value) || null;
      const slots = st?.slots ?? [];
      const busy = slots.filter((s) => s.busy).length;
      return { sequences: slots.length, busy, capacity: st?.capacity ?? 0 };
    },
  };
}
