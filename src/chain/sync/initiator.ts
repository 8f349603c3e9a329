// Pulls from one peer what this node lacks, in at most two round trips: a hello with the digest
// of its heads (one round trip when already in sync), then one fetch of every missing range,
// streamed back in batches under a credit window. Every refusal lowers the peer's score.
import { describeError, kianaError } from "../../errors.ts";
import type { Certificate } from "../../identity/enrolment.ts";
import { certificateFingerprint, decodeCertificate } from "../../identity/enrolment.ts";
import type { ChainStore } from "../ports.ts";
import { verifySignedRoot } from "../signed-root.ts";
import { headsDigest, localHeads } from "./heads.ts";
import type { AuthorKeys, PeerScores, SyncPort } from "./ports.ts";
import { applyBatch } from "./receiver.ts";
import { decodeFrame, encodeFrame, type FetchRange, type Frame, type Head } from "./wire.ts";

export interface PullOptions {
  port: SyncPort;
  /** The peer's fingerprint, as authenticated by the link. */
  peer: string;
  store: ChainStore;
  authors: AuthorKeys;
  scores: PeerScores;
  /** A problem with a certificate a peer sent for an unknown author (wrong fleet, revoked, ...). */
  checkCertificate: (cert: Certificate) => string | undefined;
  /** Called once per new refusal reason in a row from this peer (the audit log). */
  onRefusal?: (peer: string, reason: string) => void;
  /** Batches in flight; bounds what this node buffers. */
  window?: number;
  timeoutMs?: number;
  /** Refusals after which the session is abandoned. */
  maxRefusals?: number;
  /** After each batch is durably stored: the author's log length now. */
  onStored?: (author: string, length: number) => void;
}

export interface PullReport {
  /** Requests that waited for an answer: 1 when in sync, 2 with a fetch. */
  roundTrips: number;
  inSync: boolean;
  received: number;
  refused: string[];
  /** Authors this node still lacks blocks of after the session. */
  behind: string[];
}

export async function pullFrom(opts: PullOptions): Promise<PullReport> {
  const { port, peer, store, authors, scores } = opts;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const report: PullReport = { roundTrips: 1, inSync: false, received: 0, refused: [], behind: [] };
  const send = (f: Frame) => port.send(encodeFrame(f));
  const refuse = (reason: string) => {
    report.refused.push(reason);
    if (scores.refused(peer, reason)) opts.onRefusal?.(peer, reason);
  };
  const next = async (): Promise<Frame | undefined> => {
    const bytes = await port.receive(timeoutMs);
    if (!bytes) return undefined;
    const d = decodeFrame(bytes);
    if (d.ok) return d.frame;
    refuse(`undecodable frame: ${d.reason}`);
    return undefined;
  };

  const mine = localHeads(store);
  send({ kind: "hello", digest: headsDigest(mine), authors: mine.length });
  const answer = await next();
  if (!answer && report.refused.length === 0)
    throw kianaError("CHAIN_SYNC_UNAVAILABLE", "the peer closed the sync link without answering");
  if (answer?.kind === "inSync") return { ...report, inSync: true };
  if (answer?.kind !== "heads") {
    if (answer)
      refuse(answer.kind === "error" ? `peer error: ${answer.reason}` : `unexpected ${answer.kind}`);
    return report;
  }

  const verified = new Map<string, Head>();
  const unverified = new Map<string, Head>();
  const ranges: FetchRange[] = [];
  for (const head of answer.heads) {
    const held = store.length(head.author);
    const ownRoot = store.latestSignedRoot(head.author);
    if (ownRoot && ownRoot.length === head.length && Buffer.compare(ownRoot.root, head.root) !== 0) {
      refuse(`two different signed roots of ${head.author} at length ${head.length}`);
      continue;
    }
    if (head.length <= held) continue;
    const known = authors.get(head.author);
    if (known && !verifySignedRoot({ ...head }, known.signingKey)) {
      refuse(`the signed root of ${head.author} at ${head.length} has a bad signature`);
      continue;
    }
    (known ? verified : unverified).set(head.author, head);
    ranges.push({ author: head.author, from: held, to: head.length, needCertificate: !known });
  }
  if (ranges.length === 0) return report;

  report.roundTrips = 2;
  send({ kind: "fetch", window: opts.window ?? 8, ranges });
  const maxRefusals = opts.maxRefusals ?? 3;
  for (let f = await next(); f && f.kind !== "done"; f = await next()) {
    if (f.kind === "error") {
      refuse(`peer error: ${f.reason}`);
    } else if (f.kind === "author") {
      const head = unverified.get(f.author);
      const problem = head ? certificateProblem(f.certificate, f.author, head, opts) : "it was not asked for";
      if (problem) refuse(`certificate for ${f.author} refused: ${problem}`);
      else if (head) {
        const cert = decodeCertificate(f.certificate);
        authors.remember({
          author: f.author,
          signingKey: cert.signingKey,
          certificate: f.certificate,
          role: cert.role,
        });
        unverified.delete(f.author);
        verified.set(f.author, head);
      }
    } else if (f.kind === "batch") {
      // After the last batch the peer may already have hung up; the credit is then moot.
      try {
        send({ kind: "more", credits: 1 });
      } catch {}
      const head = verified.get(f.batch.author);
      if (!head) {
        // Unverifiable batches are skipped quietly once their author's refusal is on record.
        if (!unverified.has(f.batch.author) && !report.refused.some((r) => r.includes(f.batch.author)))
          refuse(`batch for ${f.batch.author}, which was not asked for or has no verified root`);
        continue;
      }
      const verdict = storeBatch(store, f, head);
      if (verdict.ok) {
        report.received += verdict.stored;
        scores.received(peer, verdict.stored);
        opts.onStored?.(f.batch.author, f.batch.from + verdict.stored);
      } else {
        refuse(verdict.reason);
        verified.delete(f.batch.author);
      }
    } else {
      refuse(`unexpected ${f.kind} during a fetch`);
    }
    if (report.refused.length >= maxRefusals) break;
  }
  report.behind = ranges.filter((r) => store.length(r.author) < r.to).map((r) => r.author);
  return report;
}

function storeBatch(store: ChainStore, f: Extract<Frame, { kind: "batch" }>, head: Head) {
  try {
    return applyBatch(store, f.batch, head);
  } catch (err) {
    return {
      ok: false as const,
      reason: `storing a batch of ${f.batch.author} failed: ${describeError(err)}`,
    };
  }
}

function certificateProblem(text: string, author: string, head: Head, opts: PullOptions): string | undefined {
  let cert: Certificate;
  try {
    cert = decodeCertificate(text);
  } catch (err) {
    return describeError(err);
  }
  if (certificateFingerprint(cert) !== author) return `it is for ${certificateFingerprint(cert)}`;
  const problem = opts.checkCertificate(cert);
  if (problem) return problem;
  if (!verifySignedRoot({ ...head }, cert.signingKey))
    return `the signed root at ${head.length} has a bad signature`;
  return undefined;
}
