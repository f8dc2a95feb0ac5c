// Helpers of the fault-injection tests: a seeded PRNG, submits that survive a Scheduler outage,
// a follower of one task's updates, and the store-side invariants read through the store.
import { randomInt } from "node:crypto";
import { readAllTasks, type TestStore } from "./stores.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { Code } from "../../packages/client/src/errors/code.js";
import type { OrchestratorClient, Submitted, TaskSpec } from "../../packages/client/src/client.js";
import { isTerminal } from "../../packages/client/src/protocol/states.js";
import type { TaskUpdate } from "../../packages/client/src/types.js";

/** mulberry32: a tiny seeded PRNG with uniform output in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** CHAOS_SEED from the environment, else a fresh random seed. */
export function chaosSeed(): number {
  const fromEnv = process.env.CHAOS_SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`CHAOS_SEED must be a non-negative integer, got "${fromEnv}"`);
    return seed;
  }
  return randomInt(2 ** 31);
}

export interface Prng {
  (): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: T[]): T[];
}

export function prng(seed: number): Prng {
  const next = mulberry32(seed);
  const random = (() => next()) as Prng;
  random.int = (min, max) => min + Math.floor(next() * (max - min + 1));
  random.pick = (items) => {
    const item = items[Math.floor(next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  };
  random.shuffle = (items) => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [items[i], items[j]] = [items[j] as never, items[i] as never];
    }
    return items;
  };
  return random;
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Submits with an idempotency key, retrying while the Gateway answers UNAVAILABLE (the Scheduler
 * is down): the key makes a retried submit whose first answer was lost return the same task.
 */
export async function submitUntilAcknowledged(client: OrchestratorClient, spec: TaskSpec & { idempotencyKey: string }, counters: { unavailable: number }, deadlineMs = 30_000): Promise<Submitted> {
  const giveUpAt = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await client.submit(spec);
    } catch (error) {
      const failure = OrchestratorError.from(error);
      if (failure.code !== Code.Unavailable || Date.now() > giveUpAt) throw failure;
      counters.unavailable++;
      await delay(100);
    }
  }
}

/** Follows one task with client.subscribe (which resumes by itself) and keeps every update it yields. */
export class Follower {
  readonly updates: TaskUpdate[] = [];
  readonly done: Promise<TaskUpdate | undefined>;
  private readonly listeners = new Set<() => void>();
  private readonly stopper = new AbortController();

  constructor(client: OrchestratorClient, readonly taskId: string) {
    this.done = (async () => {
      for await (const update of client.subscribe(taskId, { signal: this.stopper.signal })) {
        this.updates.push(update);
        for (const listener of this.listeners) listener();
      }
      return this.updates.at(-1);
    })();
    // The failure, if any, is reported by whoever awaits done; avoid an unhandled rejection meanwhile.
    this.done.catch(() => undefined);
  }

  /**
   * Closes the subscription (a no-op once the task has ended), so a test that fails while its task
   * runs leaves no stream open to count against a later test's limits.
   */
  close(): void {
    this.stopper.abort();
  }

  get terminal(): TaskUpdate | undefined {
    const last = this.updates.at(-1);
    return last && isTerminal(last.state) ? last : undefined;
  }

  /** Resolves with the first update (seen or future) that matches. */
  waitFor(match: (update: TaskUpdate) => boolean, timeoutMs = 15_000): Promise<TaskUpdate> {
    const seen = this.updates.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`task ${this.taskId}: no matching update within ${timeoutMs} ms; seen ${JSON.stringify(this.updates.map((u) => [u.sequence, u.state, u.attempt]))}`));
      }, timeoutMs);
      const check = (): void => {
        const update = this.updates.at(-1);
        if (!update || !match(update)) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(update);
      };
      this.listeners.add(check);
      void this.done.then(() => {
        if (!this.listeners.has(check)) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        reject(new Error(`task ${this.taskId}: the subscription ended without a matching update`));
      }, (error: unknown) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }
}

/** Sequence numbers that break 1..n (gaps, repeats, a wrong start), described for an assertion message. */
export function sequenceProblems(sequences: readonly number[]): string | null {
  for (let i = 0; i < sequences.length; i++) {
    if (sequences[i] !== i + 1) return `expected sequence ${i + 1} at position ${i}, got ${sequences[i]} in [${sequences.join(",")}]`;
  }
  return null;
}

// ---- the store, read-only --------------------------------------------------------------------

export interface StoredTask {
  id: string;
  name: string;
  payload: Uint8Array;
  state: string;
  attempt: number;
  max_retries: number;
  result: Uint8Array | null;
  error: string | null;
  worker_id: string | null;
  last_sequence: number;
}

export interface StoredEvent {
  task_id: string;
  sequence: number;
  state: string;
  attempt: number;
  message: string;
  worker_id: string | null;
  result: Uint8Array | null;
  error: string | null;
}

export interface StoreSnapshot {
  tasks: Map<string, StoredTask>;
  events: Map<string, StoredEvent[]>;
}

/** Every task and every event, read through the store the Scheduler used (any backend). */
export async function readStore(testStore: TestStore): Promise<StoreSnapshot> {
  const contents = await readAllTasks(testStore);
  const tasks = new Map<string, StoredTask>();
  for (const task of contents.tasks.values()) {
    tasks.set(task.id, {
      id: task.id, name: task.name, payload: task.payload, state: task.state, attempt: task.attempt, max_retries: task.maxRetries,
      result: task.result, error: task.error, worker_id: task.workerId, last_sequence: task.lastSequence,
    });
  }
  const events = new Map<string, StoredEvent[]>();
  for (const [taskId, list] of contents.events) {
    events.set(taskId, list.map((event) => ({
      task_id: event.taskId, sequence: event.sequence, state: event.state, attempt: event.attempt, message: event.message,
      worker_id: event.workerId, result: event.result, error: event.error,
    })));
  }
  return { tasks, events };
}

export const terminalStates: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/**
 * The invariants every task must keep whatever crashed, as a list of violations (empty when all
 * hold): terminal; sequences 1..last_sequence without gaps; exactly one terminal event, the last;
 * attempts started 1..attempt once each, all but the last ended by a retry; attempt within
 * max_retries + 1; the terminal event agrees with the task row.
 */
export function storeViolations(snapshot: StoreSnapshot): string[] {
  const problems: string[] = [];
  for (const task of snapshot.tasks.values()) {
    const say = (what: string): void => {
      problems.push(`task ${task.id} (${task.name}, ${task.state}, attempt ${task.attempt}): ${what}`);
    };
    const events = snapshot.events.get(task.id) ?? [];
    if (!terminalStates.has(task.state)) say("is not terminal");
    const gaps = sequenceProblems(events.map((e) => e.sequence));
    if (gaps) say(`event sequences: ${gaps}`);
    if (events.length !== task.last_sequence) say(`has ${events.length} events but last_sequence ${task.last_sequence}`);
    if (task.attempt > task.max_retries + 1) say(`attempt ${task.attempt} exceeds max_retries + 1 = ${task.max_retries + 1}`);
    const terminal = events.filter((e) => terminalStates.has(e.state));
    if (terminal.length !== 1) say(`has ${terminal.length} terminal events (${terminal.map((e) => `${e.sequence}:${e.state}`).join(", ")})`);
    const succeeded = events.filter((e) => e.state === "succeeded");
    if (task.state === "succeeded" && succeeded.length !== 1) say(`has ${succeeded.length} succeeded events`);
    const last = events.at(-1);
    if (terminal.length === 1 && last && (last !== terminal[0] || last.state !== task.state || last.attempt !== task.attempt)) {
      say(`the last event (${last.sequence}:${last.state} attempt ${last.attempt}) is not the single terminal event matching the row`);
    }
    if (task.state === "succeeded" && succeeded[0] && Buffer.compare(succeeded[0].result ?? Buffer.alloc(0), task.result ?? Buffer.alloc(0)) !== 0) {
      say("the stored result differs from the succeeded event's result");
    }
    const started = events.filter((e) => e.state === "running" && /^attempt \d+ started$/.test(e.message)).map((e) => e.attempt);
    if (sequenceProblems(started) || started.length !== task.attempt) say(`attempts started [${started.join(",")}], expected 1..${task.attempt}`);
    if (task.state === "succeeded" || task.state === "failed") {
      // Each attempt but the last ended in exactly one retry; the last one in the terminal event.
      const retried = events.filter((e) => e.state === "retrying").map((e) => e.attempt);
      if (sequenceProblems(retried) || retried.length !== task.attempt - 1) say(`retrying events for attempts [${retried.join(",")}], expected 1..${task.attempt - 1}`);
    }
  }
  for (const taskId of snapshot.events.keys()) {
    if (!snapshot.tasks.has(taskId)) problems.push(`events of task ${taskId}, which has no row`);
  }
  return problems;
}
