import type { TaskInfo, TaskUpdate, WorkerSummary } from "orchestrator-ts-client";

/** Bytes shown as text when they are UTF-8, as base64 otherwise. */
export function showBytes(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes);
  const text = buffer.toString("utf8");
  return Buffer.from(text, "utf8").equals(buffer) ? text : `base64:${buffer.toString("base64")}`;
}

const time = (date: Date | null): string | undefined => date?.toISOString();

export function taskView(task: TaskInfo): Record<string, unknown> {
  return {
    task_id: task.taskId, name: task.name, state: task.state, attempt: task.attempt, max_retries: task.maxRetries,
    timeout_secs: task.timeoutSecs, description: task.description || undefined, percent: task.percent, message: task.message || undefined,
    worker_id: task.workerId ?? undefined, result: task.result ? showBytes(task.result) : undefined,
    error: task.error ?? undefined, created_at: time(task.createdAt), started_at: time(task.startedAt),
    finished_at: time(task.finishedAt), next_attempt_at: time(task.nextAttemptAt),
    last_sequence: task.lastSequence,
  };
}

export function updateView(update: TaskUpdate): Record<string, unknown> {
  return {
    task_id: update.taskId, sequence: update.sequence, state: update.state, attempt: update.attempt,
    percent: update.percent, message: update.message, timestamp: time(update.timestamp), worker_id: update.workerId ?? undefined,
    result: update.result ? showBytes(update.result) : undefined, error: update.error ?? undefined,
    next_attempt_at: time(update.nextAttemptAt),
  };
}

export function workerView(worker: WorkerSummary): Record<string, unknown> {
  return {
    worker_id: worker.workerId, task_names: worker.taskNames, slots: worker.slots, running: worker.running,
    draining: worker.draining, connected_at: time(worker.connectedAt), last_seen_at: time(worker.lastSeenAt),
  };
}

export function updateLine(update: TaskUpdate): string {
  const parts = [`#${update.sequence}`, update.state.padEnd(9), `attempt=${update.attempt}`, `${update.percent.toFixed(0).padStart(3)}%`];
  if (update.message) parts.push(update.message);
  if (update.error) parts.push(`error="${update.error}"`);
  return parts.join(" ");
}

export function taskRow(task: TaskInfo): string {
  return [task.taskId, task.state.padEnd(9), String(task.attempt).padStart(3), task.name, time(task.createdAt) ?? ""].join("  ");
}

export function workerRow(worker: WorkerSummary): string {
  return [worker.workerId, `${worker.running}/${worker.slots}`, worker.draining ? "draining" : "ready", worker.taskNames.join(",")].join("  ");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
