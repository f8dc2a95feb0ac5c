import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { SubmitStreamRequest, SubmitStreamResponse, SubmitTaskRequest, SubmitTaskResponse } from "../protocol/generated/orchestrator/v1/orchestrator.js";
import { limits } from "../scheduler/limits.js";
import { Code } from "../errors/code.js";
import { OrchestratorError } from "../errors/orchestrator-error.js";

/** At most this many answers per message. */
const maxAnswersPerMessage = 1000;

type Answer = Omit<SubmitStreamResponse, "more">;

/**
 * One client's SubmitStream: each submit is answered as soon as its task is durable, in any order.
 * A client that batches its submits (`more`) gets its answers batched per turn of the event loop,
 * so one Scheduler commit that accepts many of its tasks costs it one message; a client that does
 * not gets one message per answer, as before `more` existed.
 */
export function serveSubmitStream(
  call: ServerDuplexStream<SubmitStreamRequest, SubmitStreamResponse>,
  submit: (task: SubmitTaskRequest) => Promise<SubmitTaskResponse>,
): void {
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
  const refuse = (requestId: number, code: Code, message: string): void => reply({ requestId, accepted: undefined, error: { code, message } });

  const accept = (request: SubmitStreamRequest): void => {
    const { requestId, task } = request;
    if (!task) {
      refuse(requestId, Code.InvalidArgument, "task is required");
      return;
    }
    if (open >= limits.submitsInFlightPerStream) {
      refuse(requestId, Code.ResourceExhausted, `${open} submits are already in flight on this stream; the limit is ${limits.submitsInFlightPerStream}: wait for answers`);
      return;
    }
    open++;
    submit(task).then(
      (accepted) => reply({ requestId, accepted, error: undefined }),
      (error: unknown) => {
        const failure = OrchestratorError.from(error);
        refuse(requestId, failure.code, failure.rawMessage);
      },
    ).finally(() => {
      open--;
      finishIfDone();
    });
  };

  call.on("data", (message: SubmitStreamRequest) => {
    if (message.more.length > 0) batching = true;
    accept(message);
    for (const request of message.more) accept(request);
  });
  call.on("end", () => {
    ended = true;
    finishIfDone();
  });
  call.on("error", () => undefined);
}
