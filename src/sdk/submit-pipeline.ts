import { Metadata, type ClientDuplexStream } from "@grpc/grpc-js";
import type { GatewayClient, SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest, SubmitTaskResponse } from "../protocol/generated/orchestrator/v1/orchestrator.js";
import { Code, isCode } from "../errors/code.js";
import { OrchestratorError } from "../errors/orchestrator-error.js";

interface Waiting {
  resolve: (response: SubmitTaskResponse) => void;
  reject: (reason: OrchestratorError) => void;
}

/**
 * The SDK's ordinary submit: many submits pipelined over one SubmitStream, the way a Redis client
 * pipelines commands on one connection, instead of one unary call each. The stream opens on first
 * use and again after it breaks; submits in flight when it breaks fail with its status.
 */
export class SubmitPipeline {
  private stream: ClientDuplexStream<SubmitStreamRequest, SubmitStreamResponse> | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;

  constructor(private readonly gateway: GatewayClient) {}

  submit(task: SubmitTaskRequest): Promise<SubmitTaskResponse> {
    const stream = this.stream ?? this.open();
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(requestId, { resolve, reject });
      stream.write({ requestId, task });
    });
  }

  close(): void {
    this.stream?.end();
    this.stream = null;
  }

  private open(): ClientDuplexStream<SubmitStreamRequest, SubmitStreamResponse> {
    const stream = this.gateway.submitStream(new Metadata());
    this.stream = stream;
    stream.on("data", (response: SubmitStreamResponse) => {
      const waiting = this.waiting.get(response.requestId);
      if (!waiting) return;
      this.waiting.delete(response.requestId);
      if (response.accepted) waiting.resolve(response.accepted);
      else waiting.reject(new OrchestratorError(isCode(response.error?.code) ? (response.error?.code ?? Code.Unknown) : Code.Unknown, response.error?.message ?? "refused without a reason"));
    });
    const broken = (reason: unknown): void => {
      if (this.stream === stream) this.stream = null;
      const failure = reason === undefined ? new OrchestratorError(Code.Unavailable, "the gateway closed the submit stream") : OrchestratorError.from(reason);
      for (const waiting of this.waiting.values()) waiting.reject(failure);
      this.waiting.clear();
    };
    stream.on("error", broken);
    stream.on("end", () => broken(undefined));
    return stream;
  }
}
