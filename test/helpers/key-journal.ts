// How many attempts of each concurrency key ran at once, from the handlers' journal
// (test/fixtures/journal-handlers.mjs) and, for attempts whose worker was SIGKILLed, the store.
import type { TaskEvent } from "../../packages/server/src/store/store.js";
import type { JournalEntry } from "./scale-out.js";

/** One attempt as its handler ran it: from its journaled start to the moment it stopped counting. */
export interface AttemptSpan {
  taskId: string;
  attempt: number;
  pid: number;
  key: string;
  start: number;
  /** Infinity when neither the journal nor the store says when the attempt ended. */
  end: number;
  /** Where the end comes from: the handler's own "done"/"abort" line, the store's event ending the attempt, or nowhere. */
  endFrom: "journal" | "store" | "open";
}

const endingStates: ReadonlySet<string> = new Set(["retrying", "succeeded", "failed", "cancelled"]);

/**
 * Each journaled attempt with its end. A handler journals "done" before its result leaves the
 * worker, and the Scheduler frees the key's room only once it has recorded that result, so a
 * journaled span lies within the store's "running" span of the attempt. An attempt whose worker
 * was SIGKILLed has a start and no end: the store keeps counting it until it records the attempt's
 * end (the lease expiry, as a "retrying" event), so that event's time is its end; with no such
 * event it counts as running until the end of the test.
 */
export function attemptSpans(entries: readonly JournalEntry[], events: ReadonlyMap<string, readonly TaskEvent[]>, keyOf: (taskId: string) => string | undefined): AttemptSpan[] {
  const ends = new Map<string, JournalEntry>();
  const id = (entry: JournalEntry): string => `${entry.taskId}/${entry.attempt}/${entry.pid}`;
  for (const entry of entries) if (entry.kind !== "start" && !ends.has(id(entry))) ends.set(id(entry), entry);
  const spans: AttemptSpan[] = [];
  for (const entry of entries) {
    const key = keyOf(entry.taskId);
    if (entry.kind !== "start" || key === undefined) continue;
    const base = { taskId: entry.taskId, attempt: entry.attempt, pid: entry.pid, key, start: entry.at };
    const ended = ends.get(id(entry));
    if (ended) {
      spans.push({ ...base, end: ended.at, endFrom: "journal" });
      continue;
    }
    const stored = (events.get(entry.taskId) ?? []).find((event) => event.attempt === entry.attempt && endingStates.has(event.state));
    spans.push(stored ? { ...base, end: stored.timestamp, endFrom: "store" } : { ...base, end: Infinity, endFrom: "open" });
  }
  return spans;
}

export interface Peak {
  running: number;
  at: number;
  /** The spans running at that moment (for the assertion message). */
  spans: AttemptSpan[];
}

/** The most spans of each group running at once (at a tie, an end comes before a start: the next attempt starts after the previous one ended). */
export function peaks(spans: readonly AttemptSpan[], groupOf: (span: AttemptSpan) => string = (span) => span.key): Map<string, Peak> {
  const moments = spans.flatMap((span) => [{ at: span.start, delta: 1, span }, { at: span.end, delta: -1, span }]);
  moments.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const running = new Map<string, Set<AttemptSpan>>();
  const result = new Map<string, Peak>();
  for (const { at, delta, span } of moments) {
    const group = groupOf(span);
    const now = running.get(group) ?? new Set<AttemptSpan>();
    running.set(group, now);
    if (delta > 0) now.add(span);
    else now.delete(span);
    const best = result.get(group);
    if (!best || now.size > best.running) result.set(group, { running: now.size, at, spans: [...now] });
  }
  return result;
}

/** A peak as a line for an assertion message: when, how many, which attempts on which worker. */
export function describePeak(group: string, peak: Peak): string {
  const spans = peak.spans.map((span) => `${span.taskId}#${span.attempt}@${span.pid} [${span.start}, ${span.end}] (end from ${span.endFrom})`);
  return `${group}: ${peak.running} running at ${peak.at}: ${spans.join("; ")}`;
}
