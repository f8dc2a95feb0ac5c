// Fault injection: 1,200 tasks on three worker processes while workers and the Scheduler are
// SIGKILLed at random moments (seeded: CHAOS_SEED=<n> replays a run's choices), then every
// invariant of "nothing lost, nothing completed twice" is checked from the store and the client.
// A tenth of the tasks have max_retries 1 or 2 and failing attempts, so the attempt bound is
// reached under the faults: they must end after exactly max_retries + 1 attempts.
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorClient, type TaskSpec } from "../../packages/client/src/client.js";
import type { TaskUpdate } from "../../packages/client/src/types.js";
import { Cluster, type LogRecord, type ServiceProcess } from "../helpers/processes.js";
import {
  chaosSeed, delay, Follower, prng, readStore, sequenceProblems, storeViolations, submitUntilAcknowledged, terminalStates,
} from "../helpers/chaos.js";

const totalTasks = 1200;
const submittedBeforeChaos = 300;
const followedTasks = 20;
const maxRetries = 10;
/** max_retries of the tasks that reach the bound: 1 or 2. */
const smallMaxRetries = [1, 2] as const;
const workerSlots = 8;
/** Chaos events: a worker killed (and replaced), the Scheduler killed (and restarted), or both at once. */
const chaosEvents = { worker: 9, scheduler: 6, both: 3 } as const;

const progressHandlers = fileURLToPath(new URL("../fixtures/progress-handlers.mjs", import.meta.url));

/**
 * doomed: every attempt fails, so it ends failed after max_retries + 1 attempts; last-chance: all
 * attempts but the last one allowed fail, so it succeeds on attempt max_retries + 1 unless a crash
 * took one of its attempts (then it ends failed, after as many).
 */
type Kind = "sleepy" | "flaky" | "non-retryable" | "ticker" | "doomed" | "last-chance";
interface Planned {
  index: number;
  key: string;
  kind: Kind;
  spec: TaskSpec;
  /** sleepy: how long it sleeps; flaky: how many attempts fail; ticker: how many progress updates. */
  ms?: number;
  failAttempts?: number;
  ticks?: number;
  maxRetries: number;
  followed: boolean;
}
interface ChaosEvent {
  kind: keyof typeof chaosEvents;
  afterMs: number;
  /** Which of the live workers dies, as a fraction of their count. */
  victim: number;
  /** How long the Scheduler stays down. */
  downMs: number;
  /** Kill the Scheduler this many ms after a burst of submits starts (else at afterMs). */
  midSubmitMs: number | null;
}

function planTasks(seed: number): Planned[] {
  const random = prng(seed);
  const followed = new Set(random.shuffle(Array.from({ length: totalTasks - submittedBeforeChaos }, (_, i) => i + submittedBeforeChaos)).slice(0, followedTasks));
  return Array.from({ length: totalTasks }, (_, index): Planned => {
    const key = `chaos-${seed}-${index}`;
    const roll = random();
    const common = { maxRetries, retryBackoffMs: 10, idempotencyKey: key };
    if (followed.has(index)) {
      // Followed tasks report progress for 1-3 s, so their subscribers live through some crashes.
      const ticks = random.int(10, 30);
      return { index, key, kind: "ticker", ticks, maxRetries, followed: true, spec: { name: "ticker", payload: { ticks, every_ms: 100 }, ...common } };
    }
    if (roll < 0.65) {
      // Mostly short; some long enough to be running through a Scheduler restart and be adopted.
      const ms = random() < 0.9 ? random.int(20, 600) : random.int(600, 2500);
      return { index, key, kind: "sleepy", ms, maxRetries, followed: followed.has(index), spec: { name: "sleepy", payload: { ms }, ...common } };
    }
    if (roll < 0.8) {
      const failAttempts = random.int(1, 3);
      return { index, key, kind: "flaky", failAttempts, maxRetries, followed: followed.has(index), spec: { name: "flaky", payload: { fail_attempts: failAttempts }, ...common } };
    }
    if (roll < 0.9) {
      // The bundled flaky handler fails attempts 1..fail_attempts (all of them when unset).
      const small = random.pick(smallMaxRetries);
      const kind = roll < 0.85 ? "doomed" : "last-chance";
      const payload = kind === "doomed" ? {} : { fail_attempts: small };
      return { index, key, kind, maxRetries: small, followed: followed.has(index), spec: { name: "flaky", payload, ...common, maxRetries: small } };
    }
    return { index, key, kind: "non-retryable", maxRetries, followed: followed.has(index), spec: { name: "non-retryable", ...common } };
  });
}

function planChaos(seed: number): ChaosEvent[] {
  const random = prng(seed ^ 0x5bd1e995);
  const kinds = random.shuffle(Object.entries(chaosEvents).flatMap(([kind, count]) => Array<ChaosEvent["kind"]>(count).fill(kind as ChaosEvent["kind"])));
  return kinds.map((kind) => ({
    kind, afterMs: random.int(400, 2400), victim: random(), downMs: random.int(0, 600), midSubmitMs: random() < 0.5 ? random.int(0, 20) : null,
  }));
}

/** Bursts of the tasks submitted while the chaos runs: sizes and the pauses before them. */
function planBursts(seed: number, tasks: readonly Planned[]): Array<{ pauseMs: number; tasks: Planned[] }> {
  const random = prng(seed ^ 0x27d4eb2f);
  const bursts = [];
  for (let start = 0; start < tasks.length;) {
    const size = random.int(20, 60);
    bursts.push({ pauseMs: random.int(300, 1500), tasks: tasks.slice(start, start + size) });
    start += size;
  }
  return bursts;
}

async function inChunks<T>(items: readonly T[], size: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
}

/** Rejects with a description of what is still missing if `promise` takes longer than `ms`. */
async function within<T>(ms: number, promise: Promise<T>, describe: () => Promise<string> | string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void Promise.resolve(describe()).then((what) => reject(new Error(`not done within ${ms} ms: ${what}`)), reject), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("chaos: workers and the Scheduler SIGKILLed at random moments", () => {
  const cluster = new Cluster({ workers: 3, workerArgs: ["--slots", String(workerSlots), "--handlers", progressHandlers] });
  const clients: OrchestratorClient[] = [];

  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster.stop();
  });

  it("loses no acknowledged task, completes none twice, keeps attempts within max_retries + 1, and resumed subscribers miss no update", async () => {
    const seed = chaosSeed();
    console.log(`chaos seed ${seed} (replay with CHAOS_SEED=${seed})`);
    const started = Date.now();
    const tasks = planTasks(seed);
    const chaos = planChaos(seed);
    const bursts = planBursts(seed, tasks.slice(submittedBeforeChaos));

    await cluster.start();
    const schedulers: ServiceProcess[] = [cluster.scheduler];
    const submitter = new OrchestratorClient({ address: cluster.gatewayAddress });
    const watcher = new OrchestratorClient({ address: cluster.gatewayAddress });
    clients.push(submitter, watcher);

    // ---- submits, before and during the chaos; only acknowledged tasks count --------------
    const acknowledged = new Map<string, { planned: Planned; taskId: string }>();
    const followers: Array<{ planned: Planned; follower: Follower }> = [];
    const submitCounters = { unavailable: 0 };
    const submit = (planned: Planned): Promise<void> =>
      submitUntilAcknowledged(submitter, { ...planned.spec, idempotencyKey: planned.key }, submitCounters).then(({ taskId }) => {
        acknowledged.set(planned.key, { planned, taskId });
        if (planned.followed) followers.push({ planned, follower: new Follower(watcher, taskId) });
      });
    await Promise.all(tasks.slice(0, submittedBeforeChaos).map(submit));

    // Some Scheduler kills land just after a burst of submits went out, while they are in flight.
    const burstStarted: Array<() => void> = [];
    const nextBurst = (): Promise<void> => new Promise((resolve) => burstStarted.push(resolve));
    // A failure on either side ends the other early, so the test reports it without waiting.
    let halted = false;
    const submitting = (async () => {
      for (const burst of bursts) {
        if (halted) return;
        await delay(burst.pauseMs);
        const inFlight = Promise.all(burst.tasks.map(submit));
        for (const resolve of burstStarted.splice(0)) resolve();
        await inFlight;
      }
    })();

    // ---- the chaos ---------------------------------------------------------------------------
    const dead = new Set<ServiceProcess>();
    const kills = { worker: 0, scheduler: 0 };
    const schedulerKilledAt: number[] = [];
    const raging = (async () => {
      for (const event of chaos) {
        if (halted) return;
        await delay(event.afterMs);
        if (event.kind !== "worker" && event.midSubmitMs !== null) {
          await Promise.race([nextBurst(), submitting]);
          await delay(event.midSubmitMs);
        }
        const live = cluster.workers.filter((w) => !dead.has(w));
        const victim = event.kind === "scheduler" ? undefined : live[Math.floor(event.victim * live.length)];
        const exits: Array<Promise<unknown>> = [];
        if (victim) {
          dead.add(victim);
          victim.signal("SIGKILL");
          exits.push(victim.exited);
          kills.worker++;
        }
        if (event.kind !== "worker") {
          cluster.scheduler.signal("SIGKILL");
          schedulerKilledAt.push(Date.now());
          exits.push(cluster.scheduler.exited);
          kills.scheduler++;
        }
        await Promise.all(exits);
        if (event.kind !== "worker") {
          await delay(event.downMs);
          schedulers.push(await cluster.startScheduler());
        }
        if (victim) await cluster.addWorker();
      }
    })();
    const outcomes = await Promise.all([submitting, raging].map((p) => p.catch((error: unknown) => {
      halted = true;
      throw error;
    }).then(() => undefined, (error: unknown) => error)));
    const failure = outcomes.find((outcome) => outcome !== undefined);
    if (failure !== undefined) throw failure;
    const chaosEndedAt = Date.now();

    // ---- the chaos is over: three workers are up; every acknowledged task must end -----------
    expect(cluster.workers.filter((w) => !dead.has(w))).toHaveLength(3);
    expect(kills).toEqual({ worker: chaosEvents.worker + chaosEvents.both, scheduler: chaosEvents.scheduler + chaosEvents.both });
    expect(acknowledged.size).toBe(totalTasks);
    const ids = [...acknowledged.values()].map((entry) => entry.taskId);
    // Distinct keys are distinct tasks.
    expect(new Set(ids).size).toBe(totalTasks);

    const terminals = new Map<string, TaskUpdate>();
    await within(60_000, inChunks(ids, 200, async (taskId) => {
      terminals.set(taskId, await watcher.waitForResult(taskId));
    }), async () => {
      const open = ids.filter((id) => !terminals.has(id)).slice(0, 5);
      const states = await Promise.all(open.map(async (id) => JSON.stringify(await watcher.get(id).then((t) => ({ id, state: t.state, attempt: t.attempt, error: t.error })))));
      return `${ids.length - terminals.size} tasks not terminal, e.g. ${states.join("; ")}`;
    });
    const drainedAt = Date.now();

    // Each followed subscription ended by itself with the terminal update.
    const followed = await within(30_000, Promise.all(followers.map(async ({ planned, follower }) => ({ planned, follower, last: await follower.done }))), () => "followers still open");
    expect(followed).toHaveLength(followedTasks);

    // ---- the client's view -------------------------------------------------------------------
    const fromClient = new Map<string, { state: string | undefined; attempt: number; lastSequence: number }>();
    await inChunks(ids, 200, async (taskId) => {
      const task = await watcher.get(taskId);
      fromClient.set(taskId, { state: task.state, attempt: task.attempt, lastSequence: task.lastSequence });
    });

    // ---- the store's view: stop the Scheduler, open its file read-only ------------------------
    const stopped = await cluster.scheduler.stop("SIGINT");
    expect(stopped.code).toBe(0);
    const store = await readStore(cluster.testStore);

    // Every acknowledged task exists, and nothing else does: a submit retried after a lost answer
    // (same idempotency key) created no second task.
    expect(store.tasks.size).toBe(totalTasks);
    expect(ids.filter((id) => !store.tasks.has(id))).toEqual([]);
    // Terminal; one terminal event, the last; sequences 1..last_sequence; attempts within bounds.
    expect(storeViolations(store)).toEqual([]);

    const problems: string[] = [];
    const exhausted: string[] = [];
    /** The tasks with a small max_retries that ended as the bound says. */
    const bound = { doomed: 0, succeededOnLast: 0, crashCostAnAttempt: 0 };
    for (const { planned, taskId } of acknowledged.values()) {
      const task = store.tasks.get(taskId);
      const events = store.events.get(taskId) ?? [];
      if (!task) continue;
      const say = (what: string): void => {
        problems.push(`${planned.kind} task ${taskId} (#${planned.index}, ${task.state}, attempt ${task.attempt}): ${what}`);
      };
      // The client saw what the store holds.
      const client = fromClient.get(taskId);
      if (client?.state !== task.state || client.attempt !== task.attempt || client.lastSequence !== task.last_sequence) say(`GetTask answered ${JSON.stringify(client)}`);
      const terminal = terminals.get(taskId);
      if (!terminal || terminal.state !== task.state || terminal.sequence !== task.last_sequence || terminal.attempt !== task.attempt) {
        say(`the subscription ended with ${terminal ? `${terminal.sequence}:${terminal.state} attempt ${terminal.attempt}` : "nothing"}`);
      }
      if (task.max_retries !== planned.maxRetries) say(`max_retries ${task.max_retries}, submitted ${planned.maxRetries}`);
      const reachesBound = planned.kind === "doomed" || planned.kind === "last-chance";
      if (task.attempt === task.max_retries + 1 && task.state === "failed" && planned.kind !== "non-retryable" && !reachesBound) {
        exhausted.push(taskId);
        continue;
      }
      const retryErrors = events.filter((e) => e.state === "retrying").map((e) => e.error ?? "");
      const result = task.result ? (JSON.parse(Buffer.from(task.result).toString("utf8")) as Record<string, unknown>) : undefined;
      switch (planned.kind) {
        case "sleepy":
          if (task.state !== "succeeded") say(`expected succeeded (error ${task.error})`);
          else if (result?.slept_ms !== planned.ms) say(`result ${JSON.stringify(result)} is not that of its payload (${planned.ms} ms)`);
          break;
        case "flaky": {
          const k = planned.failAttempts ?? 0;
          if (task.state !== "succeeded") say(`expected succeeded (error ${task.error})`);
          else if (task.attempt < k + 1) say(`succeeded at attempt ${task.attempt}, but attempts 1..${k} always fail`);
          // The stored result is that of the current attempt: a stale attempt's result was fenced.
          else if (result?.succeeded_on_attempt !== task.attempt) say(`result ${JSON.stringify(result)} is not that of attempt ${task.attempt}`);
          break;
        }
        case "ticker":
          if (task.state !== "succeeded") say(`expected succeeded (error ${task.error})`);
          else if (result?.ticks !== planned.ticks) say(`result ${JSON.stringify(result)} is not that of its payload (${planned.ticks} ticks)`);
          break;
        case "doomed":
          // Whether the handler or a crash failed each attempt, exactly max_retries + 1 ran.
          if (task.state !== "failed" || task.attempt !== planned.maxRetries + 1) say(`expected failed after exactly ${planned.maxRetries + 1} attempts`);
          else bound.doomed++;
          break;
        case "last-chance": {
          const failures = events.filter((e) => e.state === "retrying" || e.state === "failed").map((e) => e.error ?? "");
          if (task.attempt !== planned.maxRetries + 1) say(`ended after ${task.attempt} attempts, expected exactly ${planned.maxRetries + 1}`);
          else if (task.state === "succeeded" && result?.succeeded_on_attempt === task.attempt) bound.succeededOnLast++;
          else if (task.state === "failed" && failures.some((error) => !/^attempt \d+ failed on purpose$/.test(error))) bound.crashCostAnAttempt++;
          else say(`expected success on attempt ${planned.maxRetries + 1} (result ${JSON.stringify(result)}, failures ${JSON.stringify(failures)})`);
          break;
        }
        case "non-retryable": {
          // The handler always throws a non-retryable failure: the first attempt that reports ends
          // the task. Attempts before it can only have been cut short by a crash (a lost worker or
          // an expired lease), never retried because of the handler's own failure.
          const final = events.at(-1);
          if (task.state !== "failed") say("expected failed");
          else if (retryErrors.includes("the input can never succeed")) say(`a non-retryable failure was retried: ${JSON.stringify(retryErrors)}`);
          else if (final?.error !== "the input can never succeed" && task.attempt !== task.max_retries + 1) say(`ended with error ${final?.error}`);
          else if (final?.error !== "the input can never succeed") exhausted.push(taskId);
          break;
        }
      }
    }
    expect(problems).toEqual([]);
    // With max_retries 10 and short tasks, no task should run out of attempts through crashes alone.
    expect(exhausted).toEqual([]);
    // The attempt bound was reached from both sides: failed after exactly max_retries + 1, and succeeded on that attempt.
    expect(bound.doomed).toBeGreaterThan(0);
    expect(bound.succeededOnLast).toBeGreaterThan(0);

    // ---- subscribers that followed a task through the chaos -----------------------------------
    for (const { planned, follower, last } of followed) {
      const task = store.tasks.get(follower.taskId);
      const sequences = follower.updates.map((u) => u.sequence);
      expect(sequenceProblems(sequences), `followed task ${follower.taskId} (#${planned.index})`).toBeNull();
      expect(sequences.length, `followed task ${follower.taskId}: updates seen vs last_sequence`).toBe(task?.last_sequence);
      expect(last && last.state, `followed task ${follower.taskId}: final state`).toBe(task?.state);
      expect(last?.attempt).toBe(task?.attempt);
      // Every update is the one stored under its sequence number.
      const stored = store.events.get(follower.taskId) ?? [];
      expect(follower.updates.map((u) => `${u.sequence}:${u.state}:${u.attempt}`)).toEqual(stored.map((e) => `${e.sequence}:${e.state}:${e.attempt}`));
    }

    // Some subscribers were following a task while the Scheduler was killed, so they had to resume.
    const resumed = followed.filter(({ follower }) => {
      const first = follower.updates[0]?.timestamp.getTime() ?? Infinity;
      const last = follower.updates.at(-1)?.timestamp.getTime() ?? 0;
      return schedulerKilledAt.some((at) => at > first && at < last);
    });
    expect(resumed.length).toBeGreaterThan(0);

    // ---- the chaos did what it was meant to: crashes cut attempts short ----------------------
    const allEvents = [...store.events.values()].flat();
    const leaseExpiries = allEvents.filter((e) => e.state === "retrying" && e.error === "the worker stopped renewing its lease").length;
    const schedulerLogs: LogRecord[] = schedulers.flatMap((s) => s.logs);
    const count = (msg: string): number => schedulerLogs.filter((r) => r.msg === msg).length;
    const stats = {
      seed,
      kills,
      tasks: Object.fromEntries([...terminalStates].map((state) => [state, [...store.tasks.values()].filter((t) => t.state === state).length])),
      attempts: [...store.tasks.values()].reduce((sum, t) => sum + t.attempt, 0),
      bound,
      leaseExpiries,
      adopted: count("Adopted a running attempt after reconnect"),
      rejectedResults: count("Rejected the result of an attempt that is no longer current"),
      repeatedSubmits: count("Repeated submit; answering the existing task"),
      unavailableSubmits: submitCounters.unavailable,
      resumedSubscribers: resumed.length,
      chaosMs: chaosEndedAt - started,
      drainMs: drainedAt - chaosEndedAt,
      totalMs: Date.now() - started,
    };
    console.log(`chaos stats ${JSON.stringify(stats)}`);
    expect(leaseExpiries).toBeGreaterThan(0);
    expect(schedulers).toHaveLength(1 + kills.scheduler);

    // No process logged an error (a failed background write, a failed dispatch round).
    const errors = [...schedulers, ...cluster.workers, cluster.gateway].flatMap((p) => p.logs.filter((r) => r.level === "error" || r.level === "fatal").map((r) => `${p.command}: ${JSON.stringify(r)}`));
    expect(errors).toEqual([]);
  }, 120_000);
});
