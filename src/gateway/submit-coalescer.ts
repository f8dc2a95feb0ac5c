import type { SchedulerClient, SubmitEachResponse, SubmitTaskRequest, SubmitTaskResponse } from "../protocol/generated/orchestrator/v1/orchestrator.js";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { OrchestratorError } from "../errors/orchestrator-error.js";
import { Code, isCode } from "../errors/code.js";

interface PendingSubmit {
  request: SubmitTaskRequest;
  resolve: (response: SubmitTaskResponse) => void;
  reject: (reason: OrchestratorError) => void;
}

/** At most this many tasks per forwarded call (the Scheduler's SubmitEach limit). */
const maxBatch = 1000;

/**
 * Coalescing between Gateway and Scheduler: every submit that reaches the Gateway in one turn of
 * the event loop (unary SubmitTask calls and SubmitStream messages alike) goes to the Scheduler in
 * one SubmitEach call, which commits them together and answers each one on its own. Under load
 * this turns thousands of calls per second into tens; an idle Gateway adds no delay.
 */
export class SubmitCoalescer {
  private pending: PendingSubmit[] = [];
  private scheduled = false;

  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly deadlineMs: number,
    private readonly fromScheduler: (error: ServiceError) => OrchestratorError,
  ) {}

  submit(request: SubmitTaskRequest): Promise<SubmitTaskResponse> {
    return new Promise((resolve, reject) => {
      this.pending.push({ request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0) this.forward(this.pending.splice(0, maxBatch));
  }

  private forward(batch: PendingSubmit[]): void {
    this.scheduler.submitEach({ tasks: batch.map((entry) => entry.request) }, new Metadata(), { deadline: Date.now() + this.deadlineMs }, (error, response) => {
      if (error) {
        const failure = this.fromScheduler(error);
        for (const entry of batch) entry.reject(failure);
        return;
      }
      settle(batch, response);
    });
  }
}

function settle(batch: PendingSubmit[], response: SubmitEachResponse): void {
  batch.forEach((entry, index) => {
    const result = response.results[index];
    if (result?.accepted) entry.resolve(result.accepted);
    else if (result?.error) entry.reject(new OrchestratorError(isCode(result.error.code) ? result.error.code : Code.Unknown, result.error.message));
    else entry.reject(new OrchestratorError(Code.Internal, "the scheduler answered fewer submits than it was sent"));
  });
}
