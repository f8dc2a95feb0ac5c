// The Gateway's relay of one WatchTasks call: a client that reads slowly pauses the Scheduler's
// stream (so grpc-js stops reading it and HTTP/2 flow control reaches the Scheduler), the
// Scheduler's starting cursor is passed on, and a lost Scheduler is UNAVAILABLE.
import { EventEmitter } from "node:events";
import { Metadata, type ClientReadableStream, type ServerWritableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { TaskState, type TaskEventUpdate, type WatchTasksRequest } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { startCursorHeader } from "../../packages/client/src/task-events.js";
import { relayTaskEvents } from "../../packages/server/src/gateway/task-events-relay.js";

class FakeUpstream extends EventEmitter {
  paused = false;
  cancelled = false;
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

class FakeClientCall extends EventEmitter {
  readonly written: TaskEventUpdate[] = [];
  headers: Metadata | null = null;
  room = Infinity;
  sendMetadata(headers: Metadata): void {
    this.headers = headers;
  }
  write(update: TaskEventUpdate): boolean {
    this.written.push(update);
    this.room--;
    return this.room > 0;
  }
}

const event = (cursor: string): TaskEventUpdate => ({
  taskId: "t", name: "n", state: TaskState.TASK_STATE_QUEUED, attempt: 0, sequence: 1, percent: 0, message: "", timestampMs: 0, workerId: "", error: "",
  nextAttemptAtMs: 0, cursor,
});

function relay(abort = new AbortController()) {
  const upstream = new FakeUpstream();
  const call = new FakeClientCall();
  const done = relayTaskEvents(
    upstream as unknown as ClientReadableStream<TaskEventUpdate>, call as unknown as ServerWritableStream<WatchTasksRequest, TaskEventUpdate>,
    abort.signal, (error) => OrchestratorError.from(error),
  );
  return { upstream, call, done, abort };
}

describe("the Gateway's WatchTasks relay", () => {
  it("pauses the Scheduler's stream while the client's buffer is full, and resumes it on drain", async () => {
    const { upstream, call, done, abort } = relay();
    call.room = 2;
    upstream.emit("data", event("s:1"));
    expect(upstream.paused).toBe(false);
    upstream.emit("data", event("s:2"));
    expect(upstream.paused).toBe(true);
    call.room = Infinity;
    call.emit("drain");
    expect(upstream.paused).toBe(false);
    expect(call.written.map((update) => update.cursor)).toEqual(["s:1", "s:2"]);
    abort.abort();
    await done;
    expect(upstream.cancelled).toBe(true);
  });

  it("passes the Scheduler's starting cursor on in the client's headers", async () => {
    const { upstream, call, done, abort } = relay();
    const headers = new Metadata();
    headers.set(startCursorHeader, "p:42:0");
    headers.set("x-internal", "not for clients");
    upstream.emit("metadata", headers);
    expect(call.headers?.get(startCursorHeader)).toEqual(["p:42:0"]);
    expect(call.headers?.get("x-internal")).toEqual([]);
    abort.abort();
    await done;
  });

  it("ends with UNAVAILABLE when the Scheduler's stream breaks, is cancelled by it, or ends", async () => {
    for (const [how, code] of [["error", Code.Unavailable], ["error", Code.Cancelled], ["end", null]] as const) {
      const { upstream, done } = relay();
      if (how === "error") upstream.emit("error", new OrchestratorError(code, "connection lost"));
      else upstream.emit("end");
      const failure = await done.then(() => null, (error: unknown) => error as OrchestratorError);
      expect(failure?.code, `${how} ${code}`).toBe(Code.Unavailable);
    }
  });

  it("passes the Scheduler's refusal of the request through", async () => {
    const { upstream, done } = relay();
    upstream.emit("error", OrchestratorError.invalidArgument("after is not a cursor"));
    await expect(done).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});
