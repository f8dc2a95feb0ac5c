import { EventEmitter } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { SubmitPipeline, type SubmitStreamCall } from "../../packages/client/src/submit-pipeline.js";

/** The client side of a SubmitStream, as the pipeline sees it: what it wrote, and a way to answer. */
class FakeStream extends EventEmitter {
  readonly written: SubmitStreamRequest[] = [];
  ended = false;
  write(message: SubmitStreamRequest): boolean {
    this.written.push(message);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  /** Every request id written so far, batched or not. */
  requestIds(): number[] {
    return this.written.flatMap((message) => [message.requestId, ...message.more.map((more) => more.requestId)]);
  }
  accept(...requestIds: number[]): void {
    const answers: SubmitStreamResponse[] = requestIds.map((requestId) => ({ requestId, accepted: { taskId: `task-${requestId}`, timestamp: 1 }, error: undefined, more: [] }));
    const [first, ...more] = answers;
    if (first) this.emit("data", { ...first, more });
  }
}

const task = (name: string): SubmitTaskRequest => ({ name, description: "", payload: Buffer.alloc(0), idempotencyKey: "", traceContext: {} });
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function pipeline(answerTimeoutMs?: number): { pipeline: SubmitPipeline; streams: FakeStream[] } {
  const streams: FakeStream[] = [];
  const open = (): SubmitStreamCall => {
    const stream = new FakeStream();
    streams.push(stream);
    return stream as unknown as SubmitStreamCall;
  };
  return { pipeline: new SubmitPipeline(open, { peer: "the gateway", ...(answerTimeoutMs === undefined ? {} : { answerTimeoutMs }) }), streams };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("SubmitPipeline", () => {
  it("sends the submits of one turn in one message and resolves each from batched answers", async () => {
    const { pipeline: p, streams } = pipeline();
    const submits = ["a", "b", "c"].map((name) => p.submit(task(name)));
    await turn();
    expect(streams).toHaveLength(1);
    expect(streams[0]?.written).toHaveLength(1);
    expect(streams[0]?.written[0]?.task?.name).toBe("a");
    expect(streams[0]?.written[0]?.more.map((more) => more.task?.name)).toEqual(["b", "c"]);
    streams[0]?.accept(3, 1, 2);
    expect((await Promise.all(submits)).map((answer) => answer.taskId)).toEqual(["task-1", "task-2", "task-3"]);
  });

  it("splits a large turn into messages of at most 256 submits", async () => {
    const { pipeline: p, streams } = pipeline();
    const submits = Array.from({ length: 600 }, (_, i) => p.submit(task(`t${i}`)));
    await turn();
    expect(streams[0]?.written.map((message) => 1 + message.more.length)).toEqual([256, 256, 88]);
    streams[0]?.accept(...streams[0].requestIds());
    expect(await Promise.all(submits)).toHaveLength(600);
  });

  it("fails the submits in flight when the stream breaks, and sends later ones on a new stream that the old one's late events cannot touch", async () => {
    const { pipeline: p, streams } = pipeline();
    const lost = p.submit(task("lost"));
    await turn();
    streams[0]?.emit("error", Object.assign(new Error("14 UNAVAILABLE: connection reset"), { code: Code.Unavailable, details: "connection reset" }));
    await expect(lost).rejects.toMatchObject({ code: Code.Unavailable });

    const later = p.submit(task("later"));
    await turn();
    expect(streams).toHaveLength(2);
    streams[0]?.emit("end");
    streams[1]?.accept(...streams[1].requestIds());
    await expect(later).resolves.toMatchObject({ taskId: "task-2" });
  });

  it("says who closed the stream when it ends with submits unanswered", async () => {
    const { pipeline: p, streams } = pipeline();
    const unanswered = p.submit(task("a"));
    await turn();
    streams[0]?.emit("end");
    await expect(unanswered).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "the gateway closed the submit stream" });
  });

  it("fails a submit unanswered for answerTimeoutMs with DEADLINE_EXCEEDED, and only that one", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    const { pipeline: p, streams } = pipeline(5_000);
    const slow = p.submit(task("slow"));
    await turn();
    vi.advanceTimersByTime(3_000);
    const quick = p.submit(task("quick"));
    await turn();
    vi.advanceTimersByTime(2_500);
    await expect(slow).rejects.toMatchObject({ code: Code.DeadlineExceeded, rawMessage: "the gateway did not answer within 5000 ms" });
    streams[0]?.accept(1, 2);
    await expect(quick).resolves.toMatchObject({ taskId: "task-2" });
  });
});
