// The seams between the voice parts: wake word and VAD on the satellite, speech-to-text, the
// assistant's intents and text-to-speech on the hub. Pipelines and tests plug implementations in here.

/** A wake word heard in the stream: which model fired, its score, and where in the audio. */
export interface WakeDetection {
  /** The wake word's name, e.g. "hey_jarvis". */
  name: string;
  score: number;
  /** Milliseconds of audio fed to the detector before the chunk that fired. */
  atMs: number;
}

/** openWakeWord's pipeline, fed 80 ms (1280-sample) chunks of 16 kHz s16 audio. */
export interface WakeDetector {
  readonly names: readonly string[];
  /** Detections in this chunk (none most of the time); refractory periods are applied inside. */
  process(chunk: Int16Array): Promise<WakeDetection[]>;
  /** Forgets the audio context, as after an utterance or while the speaker plays. */
  reset(): void;
  dispose(): Promise<void>;
}

export type VadEvent = { type: "speech-start"; atMs: number } | { type: "speech-end"; atMs: number };

/** Silero VAD with start/end hysteresis, fed 16 kHz s16 chunks of any length. */
export interface VoiceActivity {
  process(chunk: Int16Array): Promise<VadEvent[]>;
  /** The latest speech probability, 0..1. */
  readonly probability: number;
  reset(): void;
  dispose(): Promise<void>;
}

export interface Transcript {
  text: string;
  /** Wall time the recogniser took after the last audio arrived. */
  decodeMs: number;
}

/** One utterance: audio in as it arrives, the transcript when it ends. */
export interface SttSession {
  write(chunk: Int16Array): void;
  /** No more audio; resolves with the transcript (empty text when nothing was recognised). */
  finish(): Promise<Transcript>;
  cancel(): void;
}

export interface SpeechToText {
  readonly name: string;
  start(opts?: { language?: string }): SttSession;
}

/** Synthesised audio arrives in pieces while the synthesiser still works. */
export interface SpeechAudio extends AsyncIterable<Int16Array> {
  readonly sampleRate: number;
}

export interface TextToSpeech {
  readonly name: string;
  readonly voices: readonly string[];
  synthesize(text: string, opts?: { voice?: string; signal?: AbortSignal }): SpeechAudio;
}
