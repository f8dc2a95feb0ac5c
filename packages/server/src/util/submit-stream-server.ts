import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest, SubmitTaskResponse } from "orchestrator-ts-client/internal";
import { Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";

/** At most this many answers per message. */
const maxAnswersPerMessage = 1000;

type Answer = Omit<SubmitStreamResponse, "more">;

export type SubmitOutcome = SubmitTaskResponse | OrchestratorError;

export interface SubmitStreamHandler {
  /** Submits the tasks of one stream message; one outcome per task, in order. */
  submit(tasks: SubmitTaskRequest[]): Promise<SubmitOutcome[]>;
  /** Submits of one stream that may wait for their answers at once; more are refused. */
  maxInFlight: number;
}

/**
 * Serves one SubmitStream (the Gateway's to its clients, the Scheduler's to the Gateway): each
 * submit is answered once its task is durable. A peer that batches its submits (`more`) gets its
 * answers batched per turn of the event loop, so one commit that accepts many of its tasks costs
 * one message; a peer that does not gets one message per answer, as before `more` existed.
 */
export function serveSubmitStream(call: ServerDuplexStream<SubmitStreamRequest, SubmitStreamResponse>, handler: SubmitStreamHandler): void {
  let open = 0;
  let ended = false;
  let batching = false;
  let outbox: SubmitStreamResponse[] = [];

  const finishIfDone = (): void => {
    if (ended && open === 0 && outbox.length === 0) call.end();
  };
  const sendOutbox = (): void => {
    const answers = outbox;
    outbox = [];
    for (let start = 0; start < answers.length; start += maxAnswersPerMessage) {
      const [first, ...more] = answers.slice(start, start + maxAnswersPerMessage);
      if (first) call.write({ ...first, more });
    }
    finishIfDone();
  };
  const reply = (answer: Answer): void => {
    if (!batching) {
      call.write({ ...answer, more: [] });
      return;
    }
    outbox.push({ ...answer, more: [] });
    if (outbox.length === 1) setImmediate(sendOutbox);
  };
  const refuse = (requestId: number, failure: OrchestratorError): void =>
    reply({ requestId, accepted: undefined, error: { code: failure.code, message: failure.rawMessage } });

  const accept = (requests: SubmitStreamRequest[]): void => {
    const admitted: Array<{ requestId: number; task: SubmitTaskRequest }> = [];
    for (const { requestId, task } of requests) {
      if (!task) refuse(requestId, OrchestratorError.invalidArgument("task is required"));
      else if (open + admitted.length >= handler.maxInFlight) {
        const message = `${open + admitted.length} submits are already in flight on this stream; the limit is ${handler.maxInFlight}: wait for answers`;
        refuse(requestId, new OrchestratorError(Code.ResourceExhausted, message));
      } else admitted.push({ requestId, task });
    }
    if (admitted.length === 0) return;
    open += admitted.length;
    handler.submit(admitted.map((entry) => entry.task)).then(
      (outcomes) => admitted.forEach(({ requestId }, index) => {
        const outcome = outcomes[index] ?? new OrchestratorError(Code.Internal, "the submit was not answered");
        if (outcome instanceof OrchestratorError) refuse(requestId, outcome);
        else reply({ requestId, accepted: outcome, error: undefined });
      }),
      (error: unknown) => {
        const failure = OrchestratorError.from(error);
        for (const { requestId } of admitted) refuse(requestId, failure);
      },
    ).finally(() => {
      open -= admitted.length;
      finishIfDone();
    });
  };

  call.on("data", (message: SubmitStreamRequest) => {
    if (message.more.length > 0) batching = true;
    accept([message, ...message.more]);
  });
  call.on("end", () => {
    ended = true;
    finishIfDone();
  });
  call.on("error", () => undefined);
}
