import { Metadata, type ClientDuplexStream } from "@grpc/grpc-js";
import type { GatewayClient, SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest, SubmitTaskResponse } from "../protocol/generated/orchestrator/v1/orchestrator.js";
import { Code, isCode } from "../errors/code.js";
import { OrchestratorError } from "../errors/orchestrator-error.js";

interface Waiting {
  resolve: (response: SubmitTaskResponse) => void;
  reject: (reason: OrchestratorError) => void;
}

/** At most this many submits per stream message (the Gateway's per-stream in-flight limit is higher). */
const maxPerMessage = 256;

/**
 * The SDK's ordinary submit: many submits pipelined over one SubmitStream, the way a Redis client
 * pipelines commands on one connection, instead of one unary call each. Submits made in the same
 * turn of the event loop travel in one message (`more`), and the Gateway answers them in batches,
 * so the per-message cost of gRPC is paid per batch. The stream opens on first use and again after
 * it breaks; submits in flight when it breaks fail with its status.
 */
export class SubmitPipeline {
  private stream: ClientDuplexStream<SubmitStreamRequest, SubmitStreamResponse> | null = null;
  /** Submits sent on the current stream and not yet answered. */
  private waiting = new Map<number, Waiting>();
  private unsent: Array<{ request: SubmitStreamRequest; waiting: Waiting }> = [];
  private nextId = 1;

  constructor(private readonly gateway: GatewayClient) {}

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
    const unsent = this.unsent;
    this.unsent = [];
    for (const entry of unsent) this.waiting.set(entry.request.requestId, entry.waiting);
    for (let start = 0; start < unsent.length; start += maxPerMessage) {
      const [first, ...more] = unsent.slice(start, start + maxPerMessage).map((entry) => entry.request);
      if (first) stream.write({ ...first, more });
    }
  }

  private open(): ClientDuplexStream<SubmitStreamRequest, SubmitStreamResponse> {
    const stream = this.gateway.submitStream(new Metadata());
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
    const broken = (reason: unknown): void => {
      if (this.stream === stream) this.stream = null;
      const failure = reason === undefined ? new OrchestratorError(Code.Unavailable, "the gateway closed the submit stream") : OrchestratorError.from(reason);
      for (const entry of waiting.values()) entry.reject(failure);
      waiting.clear();
    };
    stream.on("error", broken);
    stream.on("end", () => broken(undefined));
    return stream;
  }
}
