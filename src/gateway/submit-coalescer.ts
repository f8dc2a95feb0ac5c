import type { SubmitEachResponse, SubmitTaskRequest, SubmitTaskResponse } from "../protocol/generated/orchestrator/v1/orchestrator.js";
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

  /** `send` makes one SubmitEach call to the Scheduler, rejecting with an OrchestratorError. */
  constructor(private readonly send: (tasks: SubmitTaskRequest[]) => Promise<SubmitEachResponse>) {}

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
    this.send(batch.map((entry) => entry.request)).then(
      (response) => settle(batch, response),
      (error: unknown) => {
        const failure = OrchestratorError.from(error);
        for (const entry of batch) entry.reject(failure);
      },
    );
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
