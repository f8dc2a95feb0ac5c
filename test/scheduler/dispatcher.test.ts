import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { Dispatcher } from "../../packages/server/src/scheduler/dispatcher.js";
import { WorkerRegistry, WorkerSession } from "../../packages/server/src/scheduler/worker-registry.js";
import type { ClaimedAttempt, ClaimRequest, TaskStore } from "../../packages/server/src/store/store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";

/** One macrotask turn: lets the Dispatcher's setImmediate callbacks and promise chains run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
async function settle(turns = 10): Promise<void> {
  for (let index = 0; index < turns; index++) await turn();
}

const diskFull = new OrchestratorError(Code.ResourceExhausted, "the scheduler's disk is full (data directory /x): free space there");

/** A store whose claims fail while `full` is set, recording when each claim ran. */
function fakeStore(clock: ManualClock): { store: TaskStore; claimsAt: number[]; full: { value: boolean } } {
  const claimsAt: number[] = [];
  const full = { value: true };
  const store = {
    claim(requests: readonly ClaimRequest[]): Promise<ClaimedAttempt[][]> {
      claimsAt.push(clock.now());
      return full.value ? Promise.reject(diskFull) : Promise.resolve(requests.map(() => []));
    },
  } as unknown as TaskStore;
  return { store, claimsAt, full };
}

function recordingLogger(): { logger: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records };
}

describe("Dispatcher on a failing store", () => {
  it("retries a failed round with a backoff doubling to 1 s without any kick, ignores kicks meanwhile, logs once per 10 s, and resets on success", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const { store, claimsAt, full } = fakeStore(clock);
    const { logger, records } = recordingLogger();
    const registry = new WorkerRegistry();
    const channel = { sendAssignments: () => undefined, sendCancel: () => undefined, close: () => undefined };
    registry.add(new WorkerSession("w1", ["resize"], 1, start, channel));
    // The worker never speaks here: a lease longer than the test keeps it eligible for work.
    const dispatcher = new Dispatcher(store, registry, clock, { leaseMs: 60_000, deadlineGraceMs: 0 }, { assigned: () => undefined, orphaned: () => undefined }, logger, 0);

    dispatcher.kick();
    await settle();
    expect(claimsAt).toEqual([start]);
    // Kicks while backing off (every submit kicks) run no round of their own.
    for (let index = 0; index < 50; index++) dispatcher.kick();
    await settle();
    expect(claimsAt).toHaveLength(1);

    // 12 s of a full disk: retries after 10, 20, 40 ... ms, then once a second.
    for (let elapsed = 0; elapsed < 12_000; elapsed += 5) {
      clock.advance(5);
      await settle(2);
    }
    const gaps = claimsAt.slice(1).map((at, index) => at - (claimsAt[index] ?? 0));
    expect(gaps.slice(0, 7)).toEqual([10, 20, 40, 80, 160, 320, 640]);
    expect(gaps.slice(7).every((gap) => gap === 1000)).toBe(true);
    expect(claimsAt.length).toBeLessThan(25);

    // Logged at the first failure and once more after 10 s, with the count in between.
    const failed = records.filter((record) => record.msg === "Dispatch round failed");
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({ failures_since_last_log: 1, failures_in_a_row: 1, level: 50 });
    expect(Number(failed[1]?.failures_since_last_log)).toBeGreaterThan(10);

    // Space is freed: the next retry succeeds, says so once, and the backoff starts over.
    full.value = false;
    clock.advance(1000);
    await settle();
    expect(records.filter((record) => record.msg === "Dispatch rounds succeed again")).toHaveLength(1);
    const claimsBefore = claimsAt.length;
    full.value = true;
    dispatcher.kick();
    await settle();
    clock.advance(10);
    await settle();
    expect(claimsAt.length).toBe(claimsBefore + 2);
    dispatcher.stop();
  });
});

describe("Dispatcher on a store that commits batches at once", () => {
  /** A store committing two batches at once whose claims answer when the test says, each claiming `limit` tasks. */
  function heldClaims(): { store: TaskStore; limits: number[]; answer: (found?: number) => void } {
    const limits: number[] = [];
    const held: Array<(found: number) => void> = [];
    let next = 0;
    const store = {
      commitsAtOnce: 2,
      claim(requests: readonly ClaimRequest[]): Promise<ClaimedAttempt[][]> {
        limits.push(...requests.map((request) => request.limit));
        return new Promise((resolve) => held.push((found) => resolve(requests.map((request) => Array.from({ length: Math.min(found, request.limit) }, () => {
          next += 1;
          return { taskId: `t${next}`, attempt: 1, name: "resize", payload: new Uint8Array(), timeoutMs: 0, maxRetries: 0 } as unknown as ClaimedAttempt;
        })))));
      },
    } as unknown as TaskStore;
    return { store, limits, answer: (found = Infinity) => held.shift()?.(found) };
  }

  /** A dispatcher on heldClaims() with one worker of `slots` slots; `assigned` counts each assignment's tasks. */
  function dispatching(slots: number): ReturnType<typeof heldClaims> & { dispatcher: Dispatcher; session: WorkerSession; assigned: number[] } {
    const clock = new ManualClock();
    const held = heldClaims();
    const registry = new WorkerRegistry();
    const assigned: number[] = [];
    const channel = { sendAssignments: (assign: { tasks: unknown[] }) => void assigned.push(assign.tasks.length), sendCancel: () => undefined, close: () => undefined };
    const session = new WorkerSession("w1", ["resize"], slots, clock.now(), channel);
    registry.add(session);
    const dispatcher = new Dispatcher(held.store, registry, clock, { leaseMs: 60_000, deadlineGraceMs: 0 }, { assigned: () => undefined, orphaned: () => undefined }, pino({ level: "silent" }), 0);
    return { ...held, dispatcher, session, assigned };
  }

  it("while work is waiting, runs a second round beside a claim in flight, for the slots freed since and no slot the first claims for", async () => {
    const { limits, answer, dispatcher, session, assigned } = dispatching(4);

    // Work waiting: the first claim gets every task it asks for.
    dispatcher.kick();
    await settle();
    answer();
    await settle();
    expect(limits).toEqual([4]);
    const [first, second, third] = [...session.inFlight.keys()];
    session.inFlight.delete(first ?? "");
    session.inFlight.delete(second ?? "");
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([4, 2]);
    // A result frees a slot while that claim is in flight: a second round claims that one only.
    session.inFlight.delete(third ?? "");
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([4, 2, 1]);
    // Both rounds run: a further kick waits for one of them.
    session.inFlight.delete([...session.inFlight.keys()][0] ?? "");
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([4, 2, 1]);
    answer();
    await settle();
    expect(limits).toEqual([4, 2, 1, 1]);
    answer();
    answer();
    await settle();
    expect(assigned).toEqual([4, 2, 1, 1]);
    expect(session.inFlight.size).toBe(4);
    dispatcher.stop();
  });

  it("runs no round beside a claim in flight while no work is waiting: the kick runs one more round after it", async () => {
    const { limits, answer, dispatcher, session } = dispatching(4);
    dispatcher.kick();
    await settle();
    answer(1);
    await settle();
    expect(limits).toEqual([4]);
    // The first claim found one task of the four it asked for: no work is waiting.
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([4, 3]);
    // Its result frees a slot while the second claim is in flight.
    session.inFlight.clear();
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([4, 3]);
    answer(0);
    await settle();
    expect(limits).toEqual([4, 3, 4]);
    answer(0);
    await settle();
    dispatcher.stop();
  });

  it("has a running round look again when a kick finds every free slot being claimed for by it", async () => {
    const { limits, answer, dispatcher, session } = dispatching(1);
    // Work waiting: the first claim gets its task.
    dispatcher.kick();
    await settle();
    answer();
    await settle();
    session.inFlight.clear();
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([1, 1]);
    // A task submitted while that claim is in flight, which it may have missed: the kick's round has no slot to ask for.
    dispatcher.kick();
    await settle();
    expect(limits).toEqual([1, 1]);
    // The claim found nothing: its round claims again, for the task the kick was for.
    answer(0);
    await settle();
    expect(limits).toEqual([1, 1, 1]);
    answer(1);
    await settle();
    dispatcher.stop();
  });
});
