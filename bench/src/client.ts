// The benchmark's client process: `node dist/bench/client.js '<json ClientJob>'`. It runs one
// workload against the Gateway and prints one line `BENCH_RESULT <json>` on stdout.
import { credentials } from "@grpc/grpc-js";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OrchestratorClient, toTaskRequest, type TaskSpec } from "orchestrator-ts-client/internal";
import { GatewayClient, type SubmitTaskRequest } from "orchestrator-ts-client/internal";
import { distribution, ownCpuSeconds, procMemoryMb, paceStarts, resultPrefix, round, runPool, wallNow, type Distribution } from "./util.js";

export type SubmitMode = "sdk" | "unary" | "batch";

export type ClientJob =
  | {
    kind: "submit"; address: string; mode: SubmitMode; count: number; concurrency: number; batchSize: number; taskName: string;
    /** Delayed tasks: task i is due at dueFromMs + i * dueSpanMs / count (Unix ms). */
    dueFromMs?: number; dueSpanMs?: number;
  } & KeyedLoad
  | {
    kind: "paced"; address: string; rate: number; seconds: number; taskName: string;
    /** W2-hops: submits carry a trace context, and the outcome lists each task's submit and handler start. */
    traced?: boolean;
  } & KeyedLoad;

/** W4: task i carries concurrency key `k<i % keys>`, and the name's bound per key is set first. */
export interface KeyedLoad {
  keys?: number;
  boundPerKey?: number;
}

function keyedSpec(job: KeyedLoad, spec: TaskSpec, index: number): TaskSpec {
  return job.keys === undefined ? spec : { ...spec, concurrencyKey: `k${index % job.keys}` };
}

/** Sets the name's bound per key before the clock starts, when the job asks for one. */
async function setBound(client: OrchestratorClient, job: KeyedLoad & { taskName: string }): Promise<void> {
  if (job.boundPerKey !== undefined) await client.setConcurrencyLimit(job.taskName, job.boundPerKey);
}

export interface SubmitOutcome {
  kind: "submit";
  submitted: number;
  /** Tasks whose submit call answered with success (durable by then). */
  acknowledged: number;
  /** Failed calls (a batch counts once). */
  errors: number;
  firstError?: string;
  firstSubmitStartMs: number;
  lastAckMs: number;
  submitSeconds: number;
  submitRate: number;
  /** CPU seconds the client used in the submit phase. */
  cpuSeconds: number;
  /** CPU seconds the client process used in its whole life. */
  processCpuSeconds: number;
  peakRssMb: number;
}

export interface PacedOutcome {
  kind: "paced";
  submitted: number;
  acknowledged: number;
  /** Failed submit, WatchTasks or GetTask calls. */
  errors: number;
  firstError?: string;
  notSucceeded: number;
  achievedRate: number;
  maxPacingLagMs: number;
  dispatchMs: Distribution;
  /** Submit -> the task's terminal event on the run's one WatchTasks stream (client.events()). */
  eventCompletionMs: Distribution;
  /** W2-hops: [task id, submit-call start, handler start] of each succeeded task. */
  tasks?: Array<[string, number, number]>;
  /** Acknowledged tasks whose terminal event the WatchTasks stream did not deliver by the drain bound. */
  eventsMissed: number;
  processCpuSeconds: number;
  peakRssMb: number;
}

class ErrorCounter {
  count = 0;
  first: string | undefined;
  add(error: unknown): void {
    this.count++;
    this.first ??= error instanceof Error ? error.message : String(error);
  }
}

function unaryClient(address: string): { submit(request: SubmitTaskRequest): Promise<void>; ready(): Promise<void>; close(): void } {
  // What grpcurl or any generic gRPC client does: the generated stub, one SubmitTask call per task.
  const gateway = new GatewayClient(address, credentials.createInsecure());
  return {
    submit: (request) => new Promise((resolve, reject) => {
      gateway.submitTask(request, (error) => (error ? reject(error) : resolve()));
    }),
    ready: () => new Promise((resolve, reject) => {
      gateway.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()));
    }),
    close: () => gateway.close(),
  };
}

async function runSubmit(job: Extract<ClientJob, { kind: "submit" }>): Promise<SubmitOutcome> {
  const errors = new ErrorCounter();
  const spec: TaskSpec = { name: job.taskName };
  const { dueFromMs, dueSpanMs = 0 } = job;
  const specAt = (taskIndex: number): TaskSpec => keyedSpec(job, dueFromMs === undefined ? spec : { ...spec, runAt: Math.round(dueFromMs + (taskIndex * dueSpanMs) / job.count) }, taskIndex);
  let submit: (index: number) => Promise<number>;
  let calls = job.count;
  let acknowledged = 0;
  let close: () => void;
  if (job.mode === "unary") {
    const gateway = unaryClient(job.address);
    await gateway.ready();
    // The same request the SDK builds (toTaskRequest), sent as a plain unary call.
    const request: SubmitTaskRequest = toTaskRequest(spec);
    submit = async () => {
      await gateway.submit(request);
      return 1;
    };
    close = () => gateway.close();
  } else {
    const client = new OrchestratorClient({ address: job.address, timeoutMs: 120_000 });
    await client.workers(); // connect before the clock starts
    await setBound(client, job);
    if (job.mode === "sdk") {
      submit = async (index) => {
        await client.submit(specAt(index));
        return 1;
      };
    } else {
      calls = Math.ceil(job.count / job.batchSize);
      submit = async (index) => {
        const size = Math.min(job.batchSize, job.count - index * job.batchSize);
        return (await client.submitMany(Array.from({ length: size }, (_, offset) => specAt(index * job.batchSize + offset)))).length;
      };
    }
    close = () => client.close();
  }
  const cpu = process.cpuUsage();
  const first = wallNow();
  await runPool(calls, job.concurrency, async (index) => {
    try {
      const accepted = await submit(index);
      acknowledged += accepted;
    } catch (error) {
      errors.add(error);
    }
  });
  const last = wallNow();
  const used = process.cpuUsage(cpu);
  close();
  const seconds = (last - first) / 1000;
  return {
    kind: "submit", submitted: job.count, acknowledged, errors: errors.count, firstError: errors.first,
    firstSubmitStartMs: round(first), lastAckMs: round(last), submitSeconds: round(seconds), submitRate: round(job.count / seconds, 0),
    cpuSeconds: round((used.user + used.system) / 1e6, 2), processCpuSeconds: ownCpuSeconds(), peakRssMb: procMemoryMb("self", "VmHWM"),
  };
}

/**
 * Submits `rate` tasks per second for `seconds`, each at its own slot of a fixed timetable (a late
 * timer catches up; nothing is sent in bursts on purpose), and follows all of them on one WatchTasks
 * stream opened before the first submit (client.events(): completion = terminal event seen - submit),
 * as BullMQ's producer follows its jobs on one QueueEvents. No stream per task: issue 14 measures the
 * queue-wide stream, and per-task waits would load the client, Gateway and Scheduler during the window.
 * Dispatch = the handler's start (its result) - submit, read with GetTask once every task has ended.
 */
async function runPaced(job: Extract<ClientJob, { kind: "paced" }>): Promise<PacedOutcome> {
  // A provider with no span processor: submit spans are sampled, so their context travels with each
  // task to every service, but this process exports nothing (the bench has each submit's start).
  if (job.traced) new NodeTracerProvider().register();
  const client = new OrchestratorClient({ address: job.address, timeoutMs: 30_000 });
  await client.workers();
  await setBound(client, job);
  const errors = new ErrorCounter();
  const total = Math.round(job.rate * job.seconds);
  const submittedAt = new Map<string, number>();
  const terminalSeenAt = new Map<string, number>();
  const events = client.events({ names: [job.taskName], states: ["succeeded", "failed", "cancelled"] });
  await events.ready;
  let watchEnded = false;
  const watching = (async () => {
    try {
      for await (const event of events) {
        if (!terminalSeenAt.has(event.taskId)) terminalSeenAt.set(event.taskId, wallNow());
      }
    } catch (error) {
      if (!watchEnded) errors.add(error);
    }
  })();
  const one = async (index: number): Promise<void> => {
    const start = wallNow();
    try {
      const { taskId } = await client.submit(keyedSpec(job, { name: job.taskName }, index));
      submittedAt.set(taskId, start);
    } catch (error) {
      errors.add(error);
    }
  };
  const paced = await paceStarts(total, job.rate, (index) => one(index));
  // Bounded as the drain wait of W1: 60 s + 2 ms per task after the last submit.
  const deadline = wallNow() + 60_000 + 2 * total;
  while ([...submittedAt.keys()].some((taskId) => !terminalSeenAt.has(taskId)) && wallNow() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  watchEnded = true;
  events.close();
  await watching;
  const eventCompletion: number[] = [];
  const dispatch: number[] = [];
  const tasks: Array<[string, number, number]> = [];
  let eventsMissed = 0;
  let notSucceeded = 0;
  const acknowledged = [...submittedAt];
  await runPool(acknowledged.length, 16, async (index) => {
    const [taskId, start] = acknowledged[index] ?? ["", 0];
    const seen = terminalSeenAt.get(taskId);
    if (seen === undefined) eventsMissed++;
    else eventCompletion.push(seen - start);
    try {
      const task = await client.get(taskId);
      if (task.state !== "succeeded") notSucceeded++;
      else {
        const handlerStart = Number(String(task.result));
        dispatch.push(handlerStart - start);
        if (job.traced) tasks.push([taskId, start, handlerStart]);
      }
    } catch (error) {
      errors.add(error);
    }
  });
  client.close();
  return {
    kind: "paced", submitted: total, acknowledged: acknowledged.length, errors: errors.count, firstError: errors.first, notSucceeded,
    ...paced,
    dispatchMs: distribution(dispatch), eventCompletionMs: distribution(eventCompletion), eventsMissed, ...(job.traced ? { tasks } : {}),
    processCpuSeconds: ownCpuSeconds(), peakRssMb: procMemoryMb("self", "VmHWM"),
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as ClientJob;
  const outcome = job.kind === "submit" ? await runSubmit(job) : await runPaced(job);
  process.stdout.write(`${resultPrefix}${JSON.stringify(outcome)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
