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
