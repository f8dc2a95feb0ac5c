import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskState, type WatchEvent, type WatchRequest, type WatchResponse, type WatchSubscribe } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { compileSchedulerOptions, databasePath } from "../../packages/server/src/scheduler/options.js";
import { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import { WatchStream } from "../../packages/server/src/scheduler/watch-stream.js";
import type { WorkerChannel } from "../../packages/server/src/scheduler/worker-registry.js";
import { SqliteStore } from "../../packages/server/src/store/sqlite/sqlite-store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import { createLogger } from "../../packages/client/src/logger.js";

const logger = createLogger({ level: "silent" });
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The Scheduler's side of a Watch stream: what it wrote, and a way to send it requests. */
class FakeCall extends EventEmitter {
  readonly events: WatchEvent[] = [];
  messages = 0;
  sendMetadata(): void {}
  write(message: WatchResponse): boolean {
    this.messages++;
    this.events.push(...message.events);
    return true;
  }
  end(): void {}
  request(request: Partial<WatchRequest>): void {
    this.emit("data", { subscribe: [], unsubscribe: [], credit: [], ...request });
  }
  sequencesOf(subscriptionId: number): number[] {
    return this.events.flatMap((event) => (event.subscriptionId === subscriptionId && event.kind?.$case === "update" ? [event.kind.update.sequence] : []));
  }
  endOf(subscriptionId: number): { code: number; message: string } | undefined {
    const event = this.events.find((e) => e.subscriptionId === subscriptionId && e.kind?.$case === "end");
    return event?.kind?.$case === "end" ? event.kind.end : undefined;
  }
}

const noWorker: WorkerChannel = { sendAssignments: () => undefined, sendCancel: () => undefined, close: () => undefined };

let directory = "";
let store: SqliteStore;
let scheduler: Scheduler;
let call: FakeCall;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "orchestrator-watch-"));
  store = new SqliteStore({ path: databasePath(directory) });
  await store.migrate();
  const options = compileSchedulerOptions({ dataDir: directory, dispatchIdleMs: 0 });
  scheduler = new Scheduler(store, options, new ManualClock(Date.UTC(2026, 0, 1)), logger);
  await scheduler.start();
  call = new FakeCall();
  new WatchStream(call as unknown as ServerDuplexStream<WatchRequest, WatchResponse>, scheduler, logger);
});

afterEach(async () => {
  call.emit("cancelled");
  await scheduler.stop();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

async function submit(name = "nobody-runs-this"): Promise<string> {
  const [accepted] = await scheduler.submit([{ name, description: "", payload: Buffer.alloc(0), idempotencyKey: "", traceContext: {} }]);
  return accepted?.taskId ?? "";
}

/** A running task with `updates` progress updates after its "queued" and "running" ones. */
async function chattyTask(updates: number): Promise<string> {
  const session = scheduler.registerWorker({ kind: { $case: "register", register: { workerId: "w1", taskNames: ["chatty"], slots: 1, prefetch: 0, version: "test", running: [] } } }, noWorker);
  const taskId = await submit("chatty");
  for (let i = 0; i < 50 && !(await store.getTask(taskId))?.workerId; i++) await turn();
  for (let i = 1; i <= updates; i++) {
    scheduler.handleWorkerMessage(session, { kind: { $case: "progress", progress: { taskId, attempt: 1, percent: i, message: String(i) } } });
  }
  for (let i = 0; i < 50 && (await store.getTask(taskId))?.lastSequence !== updates + 2; i++) await turn();
  return taskId;
}

const subscribe = (subscriptionId: number, taskId: string, group = 1, window = 32, afterSequence = 0): WatchSubscribe => ({ subscriptionId, taskId, afterSequence, group, window });

async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await turn();
}

describe("WatchStream (the Scheduler's side of the Gateway's Watch stream)", () => {
  it("sends a subscription at most `window` updates ahead of its credit", async () => {
    const taskId = await chattyTask(10);
    call.request({ subscribe: [subscribe(1, taskId, 1, 3)] });
    await settle();
    expect(call.sequencesOf(1)).toEqual([1, 2, 3]);
    call.request({ credit: [{ subscriptionId: 1, updates: 2 }] });
    await settle();
    expect(call.sequencesOf(1)).toEqual([1, 2, 3, 4, 5]);
    call.request({ credit: [{ subscriptionId: 1, updates: 100 }] });
    await settle();
    expect(call.sequencesOf(1)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(call.endOf(1)).toBeUndefined();
  });

  it("resumes after after_sequence, and ends with OK after the terminal update", async () => {
    const taskId = await submit();
    await scheduler.cancel(taskId, "");
    call.request({ subscribe: [subscribe(1, taskId, 1, 32, 1)] });
    await settle();
    expect(call.events.map((e) => (e.kind?.$case === "update" ? e.kind.update.state : e.kind?.end.code))).toEqual([TaskState.TASK_STATE_CANCELLED, 0]);
  });

  it("ends a subscription to an unknown or malformed task with the status SubscribeProgress would answer", async () => {
    const unknown = "00000000-0000-4000-8000-000000000000";
    call.request({ subscribe: [subscribe(1, unknown), subscribe(2, "not-a-uuid"), subscribe(3, unknown, 1, 0)] });
    await settle();
    expect(call.endOf(1)).toEqual({ code: Code.NotFound, message: `task ${unknown} does not exist` });
    expect(call.endOf(2)?.code).toBe(Code.InvalidArgument);
    expect(call.endOf(3)).toEqual({ code: Code.InvalidArgument, message: "window must be 1-1000, got 0" });
  });

  it("sends nothing more for an unsubscribed subscription, not even its end", async () => {
    const taskId = await submit();
    call.request({ subscribe: [subscribe(1, taskId)] });
    await settle();
    expect(call.sequencesOf(1)).toEqual([1]);
    call.request({ unsubscribe: [1] });
    await scheduler.cancel(taskId, "");
    await settle();
    expect(call.sequencesOf(1)).toEqual([1]);
    expect(call.endOf(1)).toBeUndefined();
    expect(scheduler.hub.subscriberCount()).toBe(0);
  });

  it("starts subscriptions round robin between groups: a thousand from one client do not hold up another's", async () => {
    const taskId = await submit();
    call.request({ subscribe: Array.from({ length: 1000 }, (_, i) => subscribe(i + 1, taskId, 1)) });
    call.request({ subscribe: [subscribe(5000, taskId, 2)] });
    await turn();
    await turn();
    // The other client's subscription has its update after the first turn, long before the thousand are served.
    expect(call.sequencesOf(5000)).toEqual([1]);
    expect(call.events.length).toBeLessThan(200);
    await settle(100);
    expect(call.events.length).toBe(1001);
  });
});
