import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest, SubmitTaskResponse } from "./protocol/generated/orchestrator/v1/orchestrator.js";
import { Code, isCode } from "./errors/code.js";
import { OrchestratorError } from "./errors/orchestrator-error.js";

interface Waiting {
  resolve: (response: SubmitTaskResponse) => void;
  reject: (reason: OrchestratorError) => void;
  /** performance.now() after which the submit fails unanswered. */
  deadline?: number;
}

/** At most this many submits per stream message (a receiver's per-stream in-flight limit is higher). */
const maxPerMessage = 256;

export type SubmitStreamCall = ClientDuplexStream<SubmitStreamRequest, SubmitStreamResponse>;

export interface SubmitPipelineOptions {
  /** Who answers, for messages: "the gateway", "the scheduler at ...". */
  peer: string;
  /** A submit not answered this long after it was sent fails with DEADLINE_EXCEEDED; unset: no limit. */
  answerTimeoutMs?: number;
}

/**
 * Many submits pipelined over one SubmitStream, the way a Redis client pipelines commands on one
 * connection, instead of one unary call each: the SDK's ordinary submit to the Gateway, and the
 * Gateway's submits to the Scheduler. Submits made in the same turn of the event loop travel in one
 * message (`more`) and are answered in batches, so the per-message cost of gRPC is paid per batch.
 * The stream opens on first use and again after it breaks; submits in flight when it breaks fail
 * with its status.
 */
export class SubmitPipeline {
  private stream: SubmitStreamCall | null = null;
  /** Submits sent on the current stream and not yet answered. */
  private waiting = new Map<number, Waiting>();
  private unsent: Array<{ request: SubmitStreamRequest; waiting: Waiting }> = [];
  private nextId = 1;

  constructor(private readonly openStream: () => SubmitStreamCall, private readonly options: SubmitPipelineOptions) {}

  submit(task: SubmitTaskRequest): Promise<SubmitTaskResponse> {
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.unsent.push({ request: { requestId, task, more: [] }, waiting: { resolve, reject } });
      if (this.unsent.length === 1) setImmediate(() => this.send());
    });
  }

  close(): void {
    this.send();
    this.stream?.end();
    this.stream = null;
  }

  private send(): void {
    if (this.unsent.length === 0) return;
    const stream = this.stream ?? this.open();
    const waiting = this.waiting;
    const unsent = this.unsent;
    this.unsent = [];
    const timeoutMs = this.options.answerTimeoutMs;
    const deadline = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
    for (const entry of unsent) waiting.set(entry.request.requestId, { ...entry.waiting, deadline });
    for (let start = 0; start < unsent.length; start += maxPerMessage) {
      const [first, ...more] = unsent.slice(start, start + maxPerMessage).map((entry) => entry.request);
      if (first) stream.write({ ...first, more });
    }
  }

  /** Fails the submits of this stream that outlived answerTimeoutMs (the map is in send order). */
  private expire(waiting: Map<number, Waiting>, timeoutMs: number): void {
    const now = performance.now();
    const failure = new OrchestratorError(Code.DeadlineExceeded, `${this.options.peer} did not answer within ${timeoutMs} ms`);
    for (const [requestId, entry] of waiting) {
      if (entry.deadline === undefined || entry.deadline > now) break;
      waiting.delete(requestId);
      entry.reject(failure);
    }
  }

  private open(): SubmitStreamCall {
    const stream = this.openStream();
    const waiting = new Map<number, Waiting>();
    this.stream = stream;
    this.waiting = waiting;
    const answer = (response: SubmitStreamResponse): void => {
      const entry = waiting.get(response.requestId);
      if (!entry) return;
      waiting.delete(response.requestId);
      if (response.accepted) entry.resolve(response.accepted);
      else entry.reject(new OrchestratorError(isCode(response.error?.code) ? (response.error?.code ?? Code.Unknown) : Code.Unknown, response.error?.message ?? "refused without a reason"));
    };
    stream.on("data", (response: SubmitStreamResponse) => {
      answer(response);
      for (const more of response.more) answer(more);
    });
    const timeoutMs = this.options.answerTimeoutMs;
    const sweep = timeoutMs === undefined ? null : setInterval(() => this.expire(waiting, timeoutMs), Math.min(1000, timeoutMs)).unref();
    const broken = (reason: unknown): void => {
      if (sweep) clearInterval(sweep);
      if (this.stream === stream) this.stream = null;
      const failure = reason === undefined ? new OrchestratorError(Code.Unavailable, `${this.options.peer} closed the submit stream`) : OrchestratorError.from(reason);
      for (const entry of waiting.values()) entry.reject(failure);
      waiting.clear();
    };
    stream.on("error", broken);
    stream.on("end", () => broken(undefined));
    return stream;
  }
}
