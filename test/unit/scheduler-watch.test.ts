import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { TaskState, type ProgressUpdate, type WatchEvent, type WatchRequest } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { SchedulerWatch, type ProgressSink, type WatchCall } from "../../packages/server/src/gateway/scheduler-watch.js";
import { limits } from "../../packages/server/src/scheduler/limits.js";
import { createLogger } from "../../packages/client/src/logger.js";

/** The Gateway's side of a Watch stream, as SchedulerWatch sees it: what it wrote, and a way to answer. */
class FakeStream extends EventEmitter {
  readonly written: WatchRequest[] = [];
  cancelled = false;
  write(message: WatchRequest): boolean {
    this.written.push(message);
    return true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  /** The Scheduler has taken the stream (sent its headers). */
  up(): void {
    this.emit("metadata");
  }
  send(...events: WatchEvent[]): void {
    this.emit("data", { events });
  }
  subscribes(): WatchRequest["subscribe"] {
    return this.written.flatMap((message) => message.subscribe);
  }
  credits(): number {
    return this.written.flatMap((message) => message.credit).reduce((sum, credit) => sum + credit.updates, 0);
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const logger = createLogger({ level: "silent" });

function update(subscriptionId: number, sequence: number, state = TaskState.TASK_STATE_RUNNING): WatchEvent {
  const progress: ProgressUpdate = {
    taskId: "t", sequence, state, attempt: 1, percent: 0, message: "", timestampMs: 0, workerId: "", result: Buffer.alloc(0), error: "", nextAttemptAtMs: 0,
  };
  return { subscriptionId, kind: { $case: "update", update: progress } };
}

const end = (subscriptionId: number, code = 0, message = ""): WatchEvent => ({ subscriptionId, kind: { $case: "end", end: { code, message } } });

/** A client stream that takes `room` updates before it reports being behind, until drain(). */
class FakeSink implements ProgressSink {
  readonly received: number[] = [];
  private waiting: (() => void) | null = null;
  constructor(private room = Infinity) {}
  write(update: ProgressUpdate): boolean {
    this.received.push(update.sequence);
    this.room--;
    return this.room > 0;
  }
  drained(): Promise<void> {
    return new Promise((resolve) => (this.waiting = resolve));
  }
  drain(room: number): void {
    this.room = room;
    this.waiting?.();
  }
}

function setup(): { watch: SchedulerWatch; streams: FakeStream[] } {
  const streams: FakeStream[] = [];
  const open = (): WatchCall => {
    const stream = new FakeStream();
    streams.push(stream);
    return stream as unknown as WatchCall;
  };
  const explain = (reason: unknown): OrchestratorError => new OrchestratorError(Code.Unavailable, `the scheduler is unreachable (${OrchestratorError.from(reason).rawMessage})`);
  return { watch: new SchedulerWatch(open, explain, logger), streams };
}

describe("SchedulerWatch (the Gateway's subscriptions on one Watch stream)", () => {
  it("sends every subscription of a turn in one message on one stream, relays updates in order and ends with the Scheduler's end", async () => {
    const { watch, streams } = setup();
    const sinks = [new FakeSink(), new FakeSink()];
    const done = Promise.allSettled(sinks.map((sink, i) => watch.subscribe({ taskId: `task-${i}`, afterSequence: 0, group: 7 }, sink, new AbortController().signal)));
    await turn();
    expect(streams).toHaveLength(1);
    expect(streams[0]?.written).toHaveLength(1);
    expect(streams[0]?.subscribes()).toEqual([
      { subscriptionId: 1, taskId: "task-0", afterSequence: 0, group: 7, window: limits.watchWindow },
      { subscriptionId: 2, taskId: "task-1", afterSequence: 0, group: 7, window: limits.watchWindow },
    ]);
    streams[0]?.send(update(1, 1), update(2, 1), update(1, 2, TaskState.TASK_STATE_SUCCEEDED), end(1), end(2, Code.NotFound, "task task-1 does not exist"));
    await turn();
    const [ok, missing] = await done;
    expect(sinks[0]?.received).toEqual([1, 2]);
    expect(ok?.status).toBe("fulfilled");
    expect(missing).toMatchObject({ status: "rejected", reason: { code: Code.NotFound, rawMessage: "task task-1 does not exist" } });
    expect(watch.size).toBe(0);
  });

  it("unsubscribes by message when the client goes away, and ignores what was already on the way", async () => {
    const { watch, streams } = setup();
    const client = new AbortController();
    const sink = new FakeSink();
    const done = watch.subscribe({ taskId: "t", afterSequence: 0, group: 1 }, sink, client.signal);
    await turn();
    client.abort();
    await expect(done).resolves.toBeUndefined();
    streams[0]?.send(update(1, 1));
    await turn();
    expect(sink.received).toEqual([]);
    expect(streams[0]?.written.at(-1)?.unsubscribe).toEqual([1]);
    expect(streams[0]?.cancelled).toBe(false);
  });

  it("relays round robin between client connections: one connection's burst does not hold up another's update", async () => {
    const { watch, streams } = setup();
    const busy = Array.from({ length: 300 }, () => new FakeSink());
    const other = new FakeSink();
    busy.forEach((sink, i) => void watch.subscribe({ taskId: `busy-${i}`, afterSequence: 0, group: 1 }, sink, new AbortController().signal));
    void watch.subscribe({ taskId: "other", afterSequence: 0, group: 2 }, other, new AbortController().signal);
    await turn();
    streams[0]?.send(...busy.map((_, i) => update(i + 1, 1)), update(301, 1));
    await turn();
    expect(other.received).toEqual([1]);
    expect(busy.filter((sink) => sink.received.length > 0).length).toBeLessThan(100);
    for (let i = 0; i < 10; i++) await turn();
    expect(busy.every((sink) => sink.received.length === 1)).toBe(true);
  });

  it("grants credit as the client takes updates, and none while the client is behind", async () => {
    const { watch, streams } = setup();
    const sink = new FakeSink(2);
    void watch.subscribe({ taskId: "t", afterSequence: 0, group: 1 }, sink, new AbortController().signal);
    await turn();
    streams[0]?.send(update(1, 1));
    await turn();
    await turn();
    expect(streams[0]?.credits()).toBe(1);
    // The client is behind after the second update: the third is passed on (it was sent within the
    // window), but no credit goes back until the client drains.
    streams[0]?.send(update(1, 2), update(1, 3));
    await turn();
    await turn();
    expect(sink.received).toEqual([1, 2, 3]);
    expect(streams[0]?.credits()).toBe(1);
    sink.drain(10);
    await turn();
    await turn();
    expect(streams[0]?.credits()).toBe(3);
  });

  it("subscribes again after the last relayed sequence when an established stream breaks: no gap, no repeat", async () => {
    const { watch, streams } = setup();
    const sink = new FakeSink();
    const done = watch.subscribe({ taskId: "t", afterSequence: 0, group: 1 }, sink, new AbortController().signal);
    await turn();
    streams[0]?.up();
    streams[0]?.send(update(1, 1), update(1, 2));
    await turn();
    streams[0]?.emit("error", new OrchestratorError(Code.Unavailable, "connection reset"));
    await turn();
    expect(streams).toHaveLength(2);
    expect(streams[1]?.subscribes()).toEqual([{ subscriptionId: 1, taskId: "t", afterSequence: 2, group: 1, window: limits.watchWindow }]);
    streams[1]?.up();
    streams[1]?.send(update(1, 2), update(1, 3, TaskState.TASK_STATE_SUCCEEDED), end(1));
    await expect(done).resolves.toBeUndefined();
    expect(sink.received).toEqual([1, 2, 3]);
  });

  it("fails its subscriptions as UNAVAILABLE when the stream cannot be (re)opened, and opens a fresh one for the next", async () => {
    const { watch, streams } = setup();
    const done = watch.subscribe({ taskId: "t", afterSequence: 0, group: 1 }, new FakeSink(), new AbortController().signal);
    await turn();
    streams[0]?.up();
    streams[0]?.emit("error", new OrchestratorError(Code.Unavailable, "connection reset"));
    await turn();
    // The new stream fails before the Scheduler takes it: the Scheduler is gone.
    streams[1]?.emit("error", new OrchestratorError(Code.Unavailable, "connection refused"));
    await expect(done).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "the scheduler is unreachable (connection refused)" });
    expect(watch.size).toBe(0);
    void watch.subscribe({ taskId: "t", afterSequence: 0, group: 1 }, new FakeSink(), new AbortController().signal);
    await turn();
    expect(streams).toHaveLength(3);
    expect(streams[2]?.subscribes()).toHaveLength(1);
  });
});
