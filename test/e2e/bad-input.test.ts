import { randomUUID } from "node:crypto";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CatchUpPolicy, GatewayClient, OverlapPolicy, SchedulerClient, TaskState, type CreateScheduleRequest, type SubmitTaskRequest, type WorkerMessage,
} from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster, freePort, startService, type ServiceProcess } from "../helpers/processes.js";
import { callRaw, callUnary, statusOf, streamOutcome, type CallStatus } from "../helpers/grpc.js";

const MiB = 1024 * 1024;
const yearMs = 365 * 24 * 3600 * 1000;
const unknownId = randomUUID();
/** A name no worker serves: its tasks stay queued. */
const unserved = "nobody-serves-this";
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function task(overrides: Partial<SubmitTaskRequest> = {}): SubmitTaskRequest {
  return { name: unserved, description: "", payload: Buffer.alloc(0), idempotencyKey: "", traceContext: {}, ...overrides };
}

let cluster: Cluster;
let gateway: GatewayClient;
/** A queued task, the target of the over-long cancel reason. */
let queuedId = "";

beforeAll(async () => {
  cluster = await new Cluster({ workers: 1 }).start();
  gateway = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure());
  queuedId = (await callUnary(gateway, gateway.submitTask, task())).taskId;
});

afterAll(async () => {
  gateway?.close();
  await cluster?.stop();
});

const submit = (request: SubmitTaskRequest): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.submitTask, request));
const submitMany = (tasks: SubmitTaskRequest[]): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.submitTasks, { tasks }));
const getTask = (taskId: string): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.getTask, { taskId }));
const cancelTask = (taskId: string, reason = ""): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.cancelTask, { taskId, reason }));
const subscribe = (taskId: string): Promise<CallStatus> => streamOutcome(gateway.subscribeProgress({ taskId, afterSequence: 0 }));
const pauseQueue = (name: string, reason = ""): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.pauseQueue, { name, reason }));
const resumeQueue = (name: string): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.resumeQueue, { name }));
/** A refused pause left nothing paused. */
const nothingPaused = async (): Promise<void> => {
  expect((await callUnary(gateway, gateway.listPausedQueues, {})).queues).toEqual([]);
};
const setLimit = (name: string, maxRunning: number): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.setConcurrencyLimit, { name, maxRunning }));
const clearLimit = (name: string): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.clearConcurrencyLimit, { name }));
/** A refused SetConcurrencyLimit stored no limit. */
const noLimits = async (): Promise<void> => {
  expect((await callUnary(gateway, gateway.listConcurrencyLimits, {})).limits).toEqual([]);
};
const listTasks = (overrides: { state?: number; name?: string; pageSize?: number; pageToken?: string }): Promise<CallStatus> =>
  statusOf(callUnary(gateway, gateway.listTasks, { state: TaskState.TASK_STATE_UNSPECIFIED, name: "", pageSize: 0, pageToken: "", filter: undefined, ...overrides }));

/** Every task the Scheduler holds, counted page by page. */
async function countTasks(): Promise<number> {
  let count = 0;
  let pageToken = "";
  for (let page = 0; page < 100; page++) {
    const response = await callUnary(gateway, gateway.listTasks, { state: TaskState.TASK_STATE_UNSPECIFIED, name: "", pageSize: 200, pageToken, filter: undefined });
    count += response.tasks.length;
    if (!response.nextPageToken) return count;
    pageToken = response.nextPageToken;
  }
  throw new Error("more than 100 pages of tasks");
}

function scheduleRequest(overrides: Partial<CreateScheduleRequest> = {}): CreateScheduleRequest {
  return {
    key: "", cron: "*/5 * * * *", timeZone: "Europe/Berlin", task: { name: unserved, description: "", payload: Buffer.alloc(0) },
    overlap: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchUp: CatchUpPolicy.CATCH_UP_POLICY_ONE, paused: true, ...overrides,
  };
}
const createSchedule = (overrides: Partial<CreateScheduleRequest>): Promise<CallStatus> => statusOf(callUnary(gateway, gateway.createSchedule, scheduleRequest(overrides)));
/** After a refused create: no schedule was stored. */
const noSchedules = async (): Promise<void> => {
  expect((await callUnary(gateway, gateway.listSchedules, {})).schedules).toEqual([]);
};
const setRateLimit = (name: string, maxStarts: number, perMs: number): Promise<CallStatus> =>
  statusOf(callUnary(gateway, gateway.setRateLimit, { name, maxStarts, perMs, perKey: false }));
/** A refused SetRateLimit stored no limit. */
const noRateLimits = async (): Promise<void> => {
  expect((await callUnary(gateway, gateway.listRateLimits, {})).limits).toEqual([]);
};

interface BadCase {
  what: string;
  run: () => Promise<CallStatus>;
  code: number;
  details: RegExp[];
  /** Checks after the refusal that it changed nothing. */
  after?: () => Promise<void>;
}

const validFieldMessage = /may only contain letters, digits and \. _ : \/ -/;

const badCases: BadCase[] = [
  // SubmitTask: every field and limit.
  { what: "SubmitTask empty name", run: () => submit(task({ name: "" })), code: status.INVALID_ARGUMENT, details: [/^name is required/, /the name of the handler that runs the task/] },
  { what: "SubmitTask 129-character name", run: () => submit(task({ name: "n".repeat(129) })), code: status.INVALID_ARGUMENT, details: [/^name is 129 characters long; the limit is 128$/] },
  { what: "SubmitTask name with a space", run: () => submit(task({ name: "has space" })), code: status.INVALID_ARGUMENT, details: [/^name "has space" /, validFieldMessage] },
  { what: "SubmitTask name with '$'", run: () => submit(task({ name: "cost$" })), code: status.INVALID_ARGUMENT, details: [/^name "cost\$" /, validFieldMessage] },
  { what: "SubmitTask 1025-character description", run: () => submit(task({ description: "d".repeat(1025) })), code: status.INVALID_ARGUMENT, details: [/^description is 1025 characters long; the limit is 1024$/] },
  { what: "SubmitTask payload of 1 MiB + 1 byte", run: () => submit(task({ payload: Buffer.alloc(MiB + 1) })), code: status.INVALID_ARGUMENT, details: [/^payload is 1048577 bytes; the limit is 1048576 bytes \(1 MiB\)$/] },
  { what: "SubmitTask timeout_secs 0", run: () => submit(task({ timeoutSecs: 0 })), code: status.INVALID_ARGUMENT, details: [/^timeout_secs must be between 1 and 86400 seconds, got 0$/] },
  { what: "SubmitTask timeout_secs -1", run: () => submit(task({ timeoutSecs: -1 })), code: status.INVALID_ARGUMENT, details: [/^timeout_secs must be between 1 and 86400 seconds, got -1$/] },
  { what: "SubmitTask timeout_secs 86401", run: () => submit(task({ timeoutSecs: 86_401 })), code: status.INVALID_ARGUMENT, details: [/^timeout_secs must be between 1 and 86400 seconds, got 86401$/] },
  { what: "SubmitTask max_retries -1", run: () => submit(task({ maxRetries: -1 })), code: status.INVALID_ARGUMENT, details: [/^max_retries must be between 0 and 100, got -1$/] },
  { what: "SubmitTask max_retries 101", run: () => submit(task({ maxRetries: 101 })), code: status.INVALID_ARGUMENT, details: [/^max_retries must be between 0 and 100, got 101$/] },
  { what: "SubmitTask retry_backoff_ms 0", run: () => submit(task({ retryBackoffMs: 0 })), code: status.INVALID_ARGUMENT, details: [/^retry_backoff_ms must be between 1 and 3600000 ms, got 0$/] },
  { what: "SubmitTask retry_backoff_ms 3600001", run: () => submit(task({ retryBackoffMs: 3_600_001 })), code: status.INVALID_ARGUMENT, details: [/^retry_backoff_ms must be between 1 and 3600000 ms, got 3600001$/] },
  // When and in which order: run_at_ms / delay_ms (at most one, at most a year ahead) and priority.
  {
    what: "SubmitTask with both run_at_ms and delay_ms", run: () => submit(task({ runAtMs: Date.now() + 60_000, delayMs: 60_000 })),
    code: status.INVALID_ARGUMENT, details: [/^run_at_ms and delay_ms are both set; set at most one of them$/],
  },
  {
    what: "SubmitTask delay_ms one year + 1 ms", run: () => submit(task({ delayMs: yearMs + 1 })),
    code: status.INVALID_ARGUMENT, details: [/^delay_ms must be between 0 and 31536000000 ms \(one year\), got 31536000001$/],
  },
  { what: "SubmitTask delay_ms -1", run: () => submit(task({ delayMs: -1 })), code: status.INVALID_ARGUMENT, details: [/^delay_ms must be between 0 and 31536000000 ms \(one year\), got -1$/] },
  {
    what: "SubmitTask run_at_ms a year and a day ahead", run: () => submit(task({ runAtMs: Date.now() + yearMs + 24 * 3600 * 1000 })),
    code: status.INVALID_ARGUMENT, details: [/^run_at_ms \d{4}-\d\d-\d\dT[\d:.]+Z is more than one year ahead \(the latest is /],
  },
  { what: "SubmitTask priority 101", run: () => submit(task({ priority: 101 })), code: status.INVALID_ARGUMENT, details: [/^priority must be between -100 and 100, got 101$/] },
  { what: "SubmitTask priority -101", run: () => submit(task({ priority: -101 })), code: status.INVALID_ARGUMENT, details: [/^priority must be between -100 and 100, got -101$/] },
  // Concurrency keys: a key of 1-255 UTF-8 bytes, its own bound 1-100,000 and only with a key.
  { what: "SubmitTask concurrency_limit 0", run: () => submit(task({ concurrencyKey: "k", concurrencyLimit: 0 })), code: status.INVALID_ARGUMENT, details: [/^concurrency_limit must be between 1 and 100000, got 0$/] },
  { what: "SubmitTask concurrency_limit -1", run: () => submit(task({ concurrencyKey: "k", concurrencyLimit: -1 })), code: status.INVALID_ARGUMENT, details: [/^concurrency_limit must be between 1 and 100000, got -1$/] },
  { what: "SubmitTask concurrency_limit 100001", run: () => submit(task({ concurrencyKey: "k", concurrencyLimit: 100_001 })), code: status.INVALID_ARGUMENT, details: [/^concurrency_limit must be between 1 and 100000, got 100001$/] },
  {
    what: "SubmitTask concurrency_limit without a concurrency_key", run: () => submit(task({ concurrencyLimit: 2 })),
    code: status.INVALID_ARGUMENT, details: [/^concurrency_limit is set without a concurrency_key; set the key it bounds/],
  },
  { what: "SubmitTask 256-byte concurrency_key", run: () => submit(task({ concurrencyKey: "k".repeat(256) })), code: status.INVALID_ARGUMENT, details: [/^concurrency_key is 256 bytes \(UTF-8\); the limit is 255$/] },
  // 128 characters, but 256 bytes: the limit is on bytes.
  { what: "SubmitTask concurrency_key of 128 two-byte characters", run: () => submit(task({ concurrencyKey: "é".repeat(128) })), code: status.INVALID_ARGUMENT, details: [/^concurrency_key is 256 bytes \(UTF-8\); the limit is 255$/] },
  { what: "SubmitTask empty concurrency_key", run: () => submit(task({ concurrencyKey: "" })), code: status.INVALID_ARGUMENT, details: [/^concurrency_key is empty; give 1-255 bytes/] },
  {
    what: "SubmitTasks with one task's concurrency_limit 0", run: () => submitMany([task(), task({ concurrencyKey: "k", concurrencyLimit: 0 })]),
    code: status.INVALID_ARGUMENT, details: [/^tasks\[1\]\.concurrency_limit must be between 1 and 100000, got 0$/],
  },
  // trace_context: W3C traceparent (and tracestate), nothing else, bounded.
  {
    what: "SubmitTask trace_context with a key other than traceparent and tracestate",
    run: () => submit(task({ traceContext: { traceparent, baggage: "k=v" } })),
    code: status.INVALID_ARGUMENT, details: [/^trace_context holds the key "baggage"; only "traceparent" and "tracestate"/],
  },
  { what: "SubmitTask trace_context with a tracestate alone", run: () => submit(task({ traceContext: { tracestate: "v=1" } })), code: status.INVALID_ARGUMENT, details: [/^trace_context has a tracestate without a traceparent$/] },
  {
    what: "SubmitTask trace_context with a malformed traceparent", run: () => submit(task({ traceContext: { traceparent: "00-not-a-trace-01" } })),
    code: status.INVALID_ARGUMENT, details: [/^trace_context\.traceparent "00-not-a-trace-01" is not a W3C traceparent/],
  },
  {
    what: "SubmitTask trace_context with an all-zero trace id", run: () => submit(task({ traceContext: { traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` } })),
    code: status.INVALID_ARGUMENT, details: [/is not a W3C traceparent/],
  },
  {
    what: "SubmitTask trace_context with a 513-character tracestate", run: () => submit(task({ traceContext: { traceparent, tracestate: `v=${"x".repeat(511)}` } })),
    code: status.INVALID_ARGUMENT, details: [/^trace_context\.tracestate is 513 characters long; the limit is 512$/],
  },
  { what: "SetConcurrencyLimit max_running 0", run: () => setLimit(unserved, 0), code: status.INVALID_ARGUMENT, details: [/^max_running must be between 1 and 100000, got 0$/], after: noLimits },
  { what: "SetConcurrencyLimit max_running -1", run: () => setLimit(unserved, -1), code: status.INVALID_ARGUMENT, details: [/^max_running must be between 1 and 100000, got -1$/], after: noLimits },
  { what: "SetConcurrencyLimit max_running 100001", run: () => setLimit(unserved, 100_001), code: status.INVALID_ARGUMENT, details: [/^max_running must be between 1 and 100000, got 100001$/], after: noLimits },
  { what: "SetConcurrencyLimit empty name", run: () => setLimit("", 1), code: status.INVALID_ARGUMENT, details: [/^name is required/], after: noLimits },
  { what: "SetConcurrencyLimit name with a space", run: () => setLimit("has space", 1), code: status.INVALID_ARGUMENT, details: [/^name "has space" /, validFieldMessage], after: noLimits },
  { what: "ClearConcurrencyLimit empty name", run: () => clearLimit(""), code: status.INVALID_ARGUMENT, details: [/^name is required/] },
  // PauseQueue and ResumeQueue: the name is held to the task-name rules, the reason to the cancel reason's limit.
  { what: "PauseQueue empty name", run: () => pauseQueue(""), code: status.INVALID_ARGUMENT, details: [/^name is required/], after: nothingPaused },
  { what: "PauseQueue 129-character name", run: () => pauseQueue("n".repeat(129)), code: status.INVALID_ARGUMENT, details: [/^name is 129 characters long; the limit is 128$/], after: nothingPaused },
  { what: "PauseQueue name with a space", run: () => pauseQueue("has space"), code: status.INVALID_ARGUMENT, details: [/^name "has space" /, validFieldMessage], after: nothingPaused },
  { what: "PauseQueue 1025-character reason", run: () => pauseQueue(unserved, "r".repeat(1025)), code: status.INVALID_ARGUMENT, details: [/^reason is 1025 characters long; the limit is 1024$/], after: nothingPaused },
  { what: "ResumeQueue empty name", run: () => resumeQueue(""), code: status.INVALID_ARGUMENT, details: [/^name is required/] },
  { what: "ResumeQueue 129-character name", run: () => resumeQueue("n".repeat(129)), code: status.INVALID_ARGUMENT, details: [/^name is 129 characters long; the limit is 128$/] },
  {
    what: "SubmitTasks with one task setting both run_at_ms and delay_ms",
    run: () => submitMany([task(), task({ runAtMs: Date.now(), delayMs: 1 })]),
    code: status.INVALID_ARGUMENT, details: [/^tasks\[1\]\.run_at_ms and tasks\[1\]\.delay_ms are both set/],
  },
  // SubmitTasks: size of the batch, and a bad task refuses the whole batch.
  { what: "SubmitTasks with 0 tasks", run: () => submitMany([]), code: status.INVALID_ARGUMENT, details: [/^tasks is empty: send between 1 and 1000 tasks$/] },
  { what: "SubmitTasks with 1001 tasks", run: () => submitMany(Array.from({ length: 1001 }, () => task())), code: status.INVALID_ARGUMENT, details: [/^tasks holds 1001 tasks; the limit is 1000 per request$/] },
  {
    what: "SubmitTasks with one bad task (max_retries) among good ones",
    run: () => submitMany([task(), task(), task({ maxRetries: 101 }), task()]),
    code: status.INVALID_ARGUMENT, details: [/^tasks\[2\]\.max_retries must be between 0 and 100, got 101$/],
  },
  {
    what: "SubmitTasks with one bad task (name) among good ones",
    run: () => submitMany([task(), task({ name: "bad name" }), task()]),
    code: status.INVALID_ARGUMENT, details: [/^tasks\[1\]\.name "bad name" /, validFieldMessage],
  },
  // task_id of GetTask, CancelTask and SubscribeProgress.
  { what: "GetTask empty task_id", run: () => getTask(""), code: status.INVALID_ARGUMENT, details: [/^task_id is required: the id SubmitTask returned$/] },
  { what: "GetTask malformed task_id", run: () => getTask("not-a-uuid"), code: status.INVALID_ARGUMENT, details: [/^task_id "not-a-uuid" is not a UUID/, /expected e\.g\. 550e8400-/] },
  { what: "GetTask unknown task_id", run: () => getTask(unknownId), code: status.NOT_FOUND, details: [new RegExp(`^task ${unknownId} does not exist$`)] },
  { what: "CancelTask empty task_id", run: () => cancelTask(""), code: status.INVALID_ARGUMENT, details: [/^task_id is required: the id SubmitTask returned$/] },
  { what: "CancelTask malformed task_id", run: () => cancelTask("12345"), code: status.INVALID_ARGUMENT, details: [/^task_id "12345" is not a UUID/, /expected e\.g\. 550e8400-/] },
  { what: "CancelTask unknown task_id", run: () => cancelTask(unknownId), code: status.NOT_FOUND, details: [new RegExp(`^task ${unknownId} does not exist$`)] },
  { what: "SubscribeProgress empty task_id", run: () => subscribe(""), code: status.INVALID_ARGUMENT, details: [/^task_id is required: the id SubmitTask returned$/] },
  { what: "SubscribeProgress malformed task_id", run: () => subscribe("zzzzzzzz-e29b-41d4-a716-446655440000"), code: status.INVALID_ARGUMENT, details: [/^task_id "zzzzzzzz-e29b-41d4-a716-446655440000" is not a UUID/] },
  { what: "SubscribeProgress unknown task_id", run: () => subscribe(unknownId), code: status.NOT_FOUND, details: [new RegExp(`^task ${unknownId} does not exist$`)] },
  // ListTasks.
  { what: "ListTasks page_size 1001", run: () => listTasks({ pageSize: 1001 }), code: status.INVALID_ARGUMENT, details: [/^page_size must be between 1 and 1000, got 1001$/] },
  { what: "ListTasks page_size -1", run: () => listTasks({ pageSize: -1 }), code: status.INVALID_ARGUMENT, details: [/^page_size must be between 1 and 1000, got -1$/] },
  { what: "ListTasks garbage page_token", run: () => listTasks({ pageToken: "garbage!!" }), code: status.INVALID_ARGUMENT, details: [/^page_token is not a token this server issued$/] },
  { what: "ListTasks state out of the enum (99)", run: () => listTasks({ state: 99 }), code: status.INVALID_ARGUMENT, details: [/^state 99 is not a TaskState$/] },
  { what: "ListTasks name filter with a space", run: () => listTasks({ name: "bad name" }), code: status.INVALID_ARGUMENT, details: [/^name "bad name" /, validFieldMessage] },
  // CancelTask reason.
  {
    what: "CancelTask reason of 1025 characters",
    run: () => cancelTask(queuedId, "r".repeat(1025)),
    code: status.INVALID_ARGUMENT, details: [/^reason is 1025 characters long; the limit is 1024$/],
    after: async () => {
      const { task: stored } = await callUnary(gateway, gateway.getTask, { taskId: queuedId });
      expect(stored?.state).toBe(TaskState.TASK_STATE_QUEUED);
    },
  },
  // CreateSchedule and the other schedule calls (none stores anything).
  { what: "CreateSchedule malformed cron", run: () => createSchedule({ cron: "61 * * * *" }), code: status.INVALID_ARGUMENT, details: [/^cron "61 \* \* \* \*" is not a valid cron expression: /, /minute/], after: noSchedules },
  { what: "CreateSchedule cron of 4 fields", run: () => createSchedule({ cron: "* * * *" }), code: status.INVALID_ARGUMENT, details: [/^cron "\* \* \* \*" has 4 fields; use 5 .* or 6 \(seconds first\)/], after: noSchedules },
  { what: "CreateSchedule cron of 7 fields", run: () => createSchedule({ cron: "* * * * * * *" }), code: status.INVALID_ARGUMENT, details: [/^cron ".*" has 7 fields/], after: noSchedules },
  { what: "CreateSchedule cron nickname", run: () => createSchedule({ cron: "@daily" }), code: status.INVALID_ARGUMENT, details: [/^cron "@daily" has 1 fields/], after: noSchedules },
  { what: "CreateSchedule unknown time zone", run: () => createSchedule({ timeZone: "Mars/Olympus_Mons" }), code: status.INVALID_ARGUMENT, details: [/^time_zone "Mars\/Olympus_Mons" is not a known IANA time zone/], after: noSchedules },
  { what: "CreateSchedule overlap out of the enum (7)", run: () => createSchedule({ overlap: 7 as OverlapPolicy }), code: status.INVALID_ARGUMENT, details: [/^overlap 7 is not an OverlapPolicy \(use ALLOW or SKIP\)$/], after: noSchedules },
  { what: "CreateSchedule catch_up out of the enum (9)", run: () => createSchedule({ catchUp: 9 as CatchUpPolicy }), code: status.INVALID_ARGUMENT, details: [/^catch_up 9 is not a CatchUpPolicy \(use SKIP, ONE or ALL\)$/], after: noSchedules },
  { what: "CreateSchedule without a task", run: () => createSchedule({ task: undefined }), code: status.INVALID_ARGUMENT, details: [/^task is required/], after: noSchedules },
  { what: "CreateSchedule task with a bad name", run: () => createSchedule({ task: { name: "bad name", description: "", payload: Buffer.alloc(0) } }), code: status.INVALID_ARGUMENT, details: [/^task\.name "bad name" /], after: noSchedules },
  { what: "CreateSchedule task priority 101", run: () => createSchedule({ task: { name: unserved, description: "", payload: Buffer.alloc(0), priority: 101 } }), code: status.INVALID_ARGUMENT, details: [/^task\.priority must be between -100 and 100, got 101$/], after: noSchedules },
  { what: "CreateSchedule key with a space", run: () => createSchedule({ key: "my key" }), code: status.INVALID_ARGUMENT, details: [/^key "my key" may only contain/], after: noSchedules },
  { what: "GetSchedule unknown", run: () => statusOf(callUnary(gateway, gateway.getSchedule, { schedule: "no-such-schedule" })), code: status.NOT_FOUND, details: [/^schedule no-such-schedule does not exist$/] },
  { what: "GetSchedule empty", run: () => statusOf(callUnary(gateway, gateway.getSchedule, { schedule: "" })), code: status.INVALID_ARGUMENT, details: [/^schedule is required/] },
  {
    what: "UpdateSchedule unknown time zone",
    run: () => statusOf(callUnary(gateway, gateway.updateSchedule, { schedule: "no-such-schedule", timeZone: "Nowhere/Town", task: undefined, overlap: 0, catchUp: 0 })),
    code: status.NOT_FOUND, details: [/^schedule no-such-schedule does not exist$/],
  },
  { what: "DeleteSchedule unknown", run: () => statusOf(callUnary(gateway, gateway.deleteSchedule, { schedule: "no-such-schedule" })), code: status.NOT_FOUND, details: [/^schedule no-such-schedule does not exist$/] },
  // SetRateLimit and ClearRateLimit: the name is held to the task-name rules, max_starts and per_ms to the store's bounds.
  { what: "SetRateLimit max_starts 0", run: () => setRateLimit(unserved, 0, 1_000), code: status.INVALID_ARGUMENT, details: [/^max_starts must be between 1 and 1000000 starts per window, got 0$/], after: noRateLimits },
  { what: "SetRateLimit max_starts -1", run: () => setRateLimit(unserved, -1, 1_000), code: status.INVALID_ARGUMENT, details: [/^max_starts must be between 1 and 1000000 starts per window, got -1$/], after: noRateLimits },
  { what: "SetRateLimit max_starts 1000001", run: () => setRateLimit(unserved, 1_000_001, 1_000), code: status.INVALID_ARGUMENT, details: [/^max_starts must be between 1 and 1000000 starts per window, got 1000001$/], after: noRateLimits },
  { what: "SetRateLimit per_ms 0", run: () => setRateLimit(unserved, 5, 0), code: status.INVALID_ARGUMENT, details: [/^per_ms must be between 1000 and 86400000 ms \(a second to a day\), got 0$/], after: noRateLimits },
  { what: "SetRateLimit per_ms 999", run: () => setRateLimit(unserved, 5, 999), code: status.INVALID_ARGUMENT, details: [/^per_ms must be between 1000 and 86400000 ms \(a second to a day\), got 999$/], after: noRateLimits },
  { what: "SetRateLimit per_ms 86400001", run: () => setRateLimit(unserved, 5, 86_400_001), code: status.INVALID_ARGUMENT, details: [/^per_ms must be between 1000 and 86400000 ms \(a second to a day\), got 86400001$/], after: noRateLimits },
  { what: "SetRateLimit empty name", run: () => setRateLimit("", 5, 1_000), code: status.INVALID_ARGUMENT, details: [/^name is required/], after: noRateLimits },
  { what: "SetRateLimit name with a space", run: () => setRateLimit("has space", 5, 1_000), code: status.INVALID_ARGUMENT, details: [/^name "has space" /, validFieldMessage], after: noRateLimits },
  { what: "ClearRateLimit empty name", run: () => statusOf(callUnary(gateway, gateway.clearRateLimit, { name: "" })), code: status.INVALID_ARGUMENT, details: [/^name is required/] },
  // Transport level.
  {
    what: "a message over 4 MiB",
    run: () => submit(task({ payload: Buffer.alloc(4 * MiB + 1) })),
    code: status.RESOURCE_EXHAUSTED, details: [/larger than max/, /4194304/],
  },
  {
    // Field 1 (name) declared as 16 bytes long, with 2 bytes present: not a protobuf message.
    what: "a malformed (undecodable) message",
    run: () => statusOf(callRaw(gateway, "/orchestrator.v1.Gateway/SubmitTask", Buffer.from([0x0a, 0x10, 0x41, 0x42]))),
    code: status.INTERNAL, details: [/deserializ/i],
  },
  {
    what: "an unknown method",
    run: () => statusOf(callRaw(gateway, "/orchestrator.v1.Gateway/Nope")),
    code: status.UNIMPLEMENTED, details: [/orchestrator\.v1\.Gateway\/Nope/],
  },
];

describe("the Gateway refuses bad input", () => {
  it.each(badCases)("$what", async ({ run, code, details, after }) => {
    const before = await countTasks();
    const outcome = await run();
    expect(outcome.code, outcome.details).toBe(code);
    for (const pattern of details) expect(outcome.details).toMatch(pattern);
    expect(await countTasks()).toBe(before);
    await after?.();
  });
});

describe("schedules through the Gateway", () => {
  it("creates one idempotently by key, refuses the key with other fields, refuses a bad update, and deletes it", async () => {
    const first = await callUnary(gateway, gateway.createSchedule, scheduleRequest({ key: "bad-input-nightly", cron: "0 2 * * *" }));
    expect(first).toMatchObject({ created: true, schedule: { key: "bad-input-nightly", cron: "0 2 * * *", timeZone: "Europe/Berlin", paused: true, nextFireAtMs: 0 } });
    const repeat = await callUnary(gateway, gateway.createSchedule, scheduleRequest({ key: "bad-input-nightly", cron: "0 2 * * *" }));
    expect(repeat).toMatchObject({ created: false, schedule: { scheduleId: first.schedule?.scheduleId } });
    const other = await createSchedule({ key: "bad-input-nightly", cron: "0 3 * * *" });
    expect(other.code).toBe(status.ALREADY_EXISTS);
    expect(other.details).toMatch(new RegExp(`^schedule key "bad-input-nightly" already belongs to schedule ${first.schedule?.scheduleId ?? "?"}`));
    const badUpdate = await statusOf(callUnary(gateway, gateway.updateSchedule, { schedule: "bad-input-nightly", cron: "* * *", task: undefined, overlap: 0, catchUp: 0 }));
    expect(badUpdate.code).toBe(status.INVALID_ARGUMENT);
    expect(badUpdate.details).toMatch(/^cron "\* \* \*" has 3 fields/);
    const badZone = await statusOf(callUnary(gateway, gateway.updateSchedule, { schedule: "bad-input-nightly", timeZone: "Nowhere/Town", task: undefined, overlap: 0, catchUp: 0 }));
    expect(badZone).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^time_zone "Nowhere\/Town" is not a known IANA time zone/) as unknown });
    const badPolicy = await statusOf(callUnary(gateway, gateway.updateSchedule, { schedule: "bad-input-nightly", task: undefined, overlap: 5, catchUp: 0 }));
    expect(badPolicy).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^overlap 5 is not an OverlapPolicy/) as unknown });
    expect((await callUnary(gateway, gateway.getSchedule, { schedule: "bad-input-nightly" })).schedule).toMatchObject({ cron: "0 2 * * *", timeZone: "Europe/Berlin" });
    await callUnary(gateway, gateway.deleteSchedule, { schedule: "bad-input-nightly" });
    await noSchedules();
  });
});

describe("the Gateway accepts the limits themselves", () => {
  const acceptedCases: { what: string; request: SubmitTaskRequest; stored: Record<string, unknown> }[] = [
    { what: "payload of exactly 1 MiB", request: task({ payload: Buffer.alloc(MiB, 7) }), stored: {} },
    { what: "128-character name", request: task({ name: "n".repeat(128) }), stored: { name: "n".repeat(128) } },
    { what: "name with every allowed character", request: task({ name: "Az09._:/-" }), stored: { name: "Az09._:/-" } },
    { what: "1024-character description", request: task({ description: "d".repeat(1024) }), stored: { description: "d".repeat(1024) } },
    { what: "timeout_secs 1", request: task({ timeoutSecs: 1 }), stored: { timeoutSecs: 1 } },
    { what: "timeout_secs 86400", request: task({ timeoutSecs: 86_400 }), stored: { timeoutSecs: 86_400 } },
    { what: "max_retries 0", request: task({ maxRetries: 0 }), stored: { maxRetries: 0 } },
    { what: "max_retries 100", request: task({ maxRetries: 100 }), stored: { maxRetries: 100 } },
    { what: "retry_backoff_ms 1", request: task({ retryBackoffMs: 1 }), stored: { retryBackoffMs: 1 } },
    { what: "retry_backoff_ms 3600000", request: task({ retryBackoffMs: 3_600_000 }), stored: { retryBackoffMs: 3_600_000 } },
    { what: "priority 100", request: task({ priority: 100 }), stored: { priority: 100 } },
    { what: "priority -100", request: task({ priority: -100 }), stored: { priority: -100 } },
    { what: "run_at_ms in the past (means now)", request: task({ runAtMs: 1 }), stored: { runAtMs: 0 } },
    { what: "255-byte concurrency_key, no limit", request: task({ concurrencyKey: "k".repeat(255) }), stored: { concurrencyKey: "k".repeat(255), concurrencyLimit: undefined } },
    { what: "concurrency_limit 1", request: task({ concurrencyKey: "tenant-1", concurrencyLimit: 1 }), stored: { concurrencyKey: "tenant-1", concurrencyLimit: 1 } },
    { what: "concurrency_limit 100000", request: task({ concurrencyKey: "tenant-2", concurrencyLimit: 100_000 }), stored: { concurrencyKey: "tenant-2", concurrencyLimit: 100_000 } },
    { what: "a traceparent and a 512-character tracestate", request: task({ traceContext: { traceparent, tracestate: `v=${"x".repeat(510)}` } }), stored: {} },
  ];

  it.each(acceptedCases)("SubmitTask with $what", async ({ request, stored }) => {
    const { taskId } = await callUnary(gateway, gateway.submitTask, request);
    const { task: saved } = await callUnary(gateway, gateway.getTask, { taskId });
    expect(saved).toMatchObject({ taskId, state: TaskState.TASK_STATE_QUEUED, ...stored });
    expect(Buffer.from(saved?.payload ?? []).equals(Buffer.from(request.payload))).toBe(true);
  });

  it("SubmitTask with delay_ms of exactly one year, and with run_at_ms just under a year ahead: scheduled", async () => {
    const before = Date.now();
    const { taskId: delayed } = await callUnary(gateway, gateway.submitTask, task({ delayMs: yearMs }));
    const { taskId: at } = await callUnary(gateway, gateway.submitTask, task({ runAtMs: before + yearMs - 60_000 }));
    const { task: saved } = await callUnary(gateway, gateway.getTask, { taskId: delayed });
    expect(saved?.state).toBe(TaskState.TASK_STATE_SCHEDULED);
    expect(saved?.runAtMs).toBeGreaterThanOrEqual(before + yearMs);
    expect(saved?.nextAttemptAtMs).toBe(saved?.runAtMs);
    expect((await callUnary(gateway, gateway.getTask, { taskId: at })).task).toMatchObject({ state: TaskState.TASK_STATE_SCHEDULED, runAtMs: before + yearMs - 60_000 });
    const page = await callUnary(gateway, gateway.listTasks, { state: TaskState.TASK_STATE_SCHEDULED, name: "", pageSize: 10, pageToken: "", filter: undefined });
    expect(page.tasks.map((listed) => listed.taskId)).toEqual([at, delayed]);
    expect(await callUnary(gateway, gateway.cancelTask, { taskId: at, reason: "" })).toEqual({ state: TaskState.TASK_STATE_CANCELLED, cancelled: true });
  });

  it("SubmitTasks with exactly 1000 tasks", async () => {
    const name = `batch-of-1000-${randomUUID()}`;
    const { tasks } = await callUnary(gateway, gateway.submitTasks, { tasks: Array.from({ length: 1000 }, () => task({ name })) });
    expect(tasks).toHaveLength(1000);
    expect(new Set(tasks.map((accepted) => accepted.taskId)).size).toBe(1000);
    const page = await callUnary(gateway, gateway.listTasks, { state: TaskState.TASK_STATE_QUEUED, name, pageSize: 1000, pageToken: "", filter: undefined });
    expect(page.tasks).toHaveLength(1000);
  });

  it("SetRateLimit with max_starts 1 and 1000000, per_ms 1000 and 86400000", async () => {
    const low = await callUnary(gateway, gateway.setRateLimit, { name: "rate-low", maxStarts: 1, perMs: 1_000, perKey: false });
    const high = await callUnary(gateway, gateway.setRateLimit, { name: "rate-high", maxStarts: 1_000_000, perMs: 86_400_000, perKey: true });
    expect(low.limit).toMatchObject({ name: "rate-low", maxStarts: 1, perMs: 1_000 });
    expect(high.limit).toMatchObject({ name: "rate-high", maxStarts: 1_000_000, perMs: 86_400_000, perKey: true });
    expect((await callUnary(gateway, gateway.listRateLimits, {})).limits.map((limit) => limit.name)).toEqual(["rate-high", "rate-low"]);
    for (const name of ["rate-low", "rate-high"]) expect((await callUnary(gateway, gateway.clearRateLimit, { name })).cleared).toBe(true);
    await noRateLimits();
  });

  it("a cancel reason of exactly 1024 characters", async () => {
    const { taskId } = await callUnary(gateway, gateway.submitTask, task());
    const outcome = await callUnary(gateway, gateway.cancelTask, { taskId, reason: "r".repeat(1024) });
    expect(outcome).toEqual({ state: TaskState.TASK_STATE_CANCELLED, cancelled: true });
  });
});

describe("after all that", () => {
  it("the services still serve", async () => {
    expect(await callUnary(gateway, gateway.healthCheck, {})).toMatchObject({ healthy: true });
    const { workers } = await callUnary(gateway, gateway.listWorkers, {});
    expect(workers).toHaveLength(1);
    const { taskId } = await cluster.client.submit({ name: "data-processing-job", payload: "still serving" });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect(JSON.parse(Buffer.from(terminal.result ?? "").toString("utf8"))).toMatchObject({ words: 2 });
  });
});

describe("worker streams that do not register properly", () => {
  const register = (overrides: Partial<{ workerId: string; taskNames: string[]; slots: number; prefetch: number }>): WorkerMessage => ({
    kind: { $case: "register", register: { workerId: "bad-worker", taskNames: ["noop"], slots: 1, prefetch: 0, version: "test", running: [], ...overrides } },
  });
  const cases: { what: string; first: WorkerMessage; details: RegExp }[] = [
    { what: "first message is a heartbeat", first: { kind: { $case: "heartbeat", heartbeat: { sentAtMs: Date.now() } } }, details: /^the first message on a worker stream must be register$/ },
    { what: "first message is a drain", first: { kind: { $case: "drain", drain: {} } }, details: /^the first message on a worker stream must be register$/ },
    { what: "first message is empty", first: { kind: undefined }, details: /^the first message on a worker stream must be register$/ },
    { what: "register with slots 0", first: register({ slots: 0 }), details: /^slots must be between 1 and 10000, got 0$/ },
    { what: "register with slots 10001", first: register({ slots: 10_001 }), details: /^slots must be between 1 and 10000, got 10001$/ },
    { what: "register with no task names", first: register({ taskNames: [] }), details: /^task_names must list 1-1000 task names$/ },
    { what: "register with prefetch -1", first: register({ prefetch: -1 }), details: /^prefetch must be between 0 and 10000, got -1$/ },
    { what: "register with prefetch 10001", first: register({ prefetch: 10_001 }), details: /^prefetch must be between 0 and 10000, got 10001$/ },
  ];

  it.each(cases)("refuses a stream whose $what", async ({ first, details }) => {
    const scheduler = new SchedulerClient(cluster.schedulerAddress, credentials.createInsecure());
    try {
      const stream = scheduler.connect();
      const outcome = streamOutcome(stream);
      stream.write(first);
      const { code, details: message, messages } = await outcome;
      expect(code, message).toBe(status.INVALID_ARGUMENT);
      expect(message).toMatch(details);
      expect(messages).toEqual([]);
      const { workers } = await callUnary(gateway, gateway.listWorkers, {});
      expect(workers.map((worker) => worker.workerId)).not.toContain("bad-worker");
      expect(workers).toHaveLength(1);
    } finally {
      scheduler.close();
    }
  });
});

describe("a Gateway whose Scheduler is not there", () => {
  let lonely: ServiceProcess | undefined;
  let client: GatewayClient;
  let schedulerAddress = "";

  beforeAll(async () => {
    schedulerAddress = `127.0.0.1:${await freePort()}`;
    const port = await freePort();
    lonely = await startService("gateway", ["--port", String(port), "--scheduler", schedulerAddress]);
    client = new GatewayClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await lonely?.stop("SIGKILL");
  });

  it.each([
    { method: "SubmitTask", run: () => statusOf(callUnary(client, client.submitTask, task())) },
    { method: "GetTask", run: () => statusOf(callUnary(client, client.getTask, { taskId: randomUUID() })) },
    { method: "ListTasks", run: () => statusOf(callUnary(client, client.listTasks, { state: 0, name: "", pageSize: 0, pageToken: "", filter: undefined })) },
    { method: "SubscribeProgress", run: () => streamOutcome(client.subscribeProgress({ taskId: randomUUID(), afterSequence: 0 })) },
  ])("answers $method promptly with UNAVAILABLE naming the scheduler address", async ({ run }) => {
    const started = Date.now();
    const outcome = await run();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(outcome.code, outcome.details).toBe(status.UNAVAILABLE);
    expect(outcome.details).toContain(`the scheduler at ${schedulerAddress}`);
    expect(outcome.details).toMatch(/start it with "orchestrator scheduler" or check --scheduler/);
  });

  it("still answers its HealthCheck", async () => {
    expect(await callUnary(client, client.healthCheck, {}, 5000)).toMatchObject({ healthy: true });
  });
});
