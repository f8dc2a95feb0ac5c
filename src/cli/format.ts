import type { ProgressUpdate, Task, WorkerInfo } from "../protocol/generated/orchestrator/v1/orchestrator.js";
import { stateLabel } from "../protocol/convert.js";

/** Bytes shown as text when they are UTF-8, as base64 otherwise. */
export function showBytes(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes);
  const text = buffer.toString("utf8");
  return Buffer.from(text, "utf8").equals(buffer) ? text : `base64:${buffer.toString("base64")}`;
}

const time = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);

export function taskView(task: Task): Record<string, unknown> {
  return {
    task_id: task.taskId, name: task.name, state: stateLabel(task.state), attempt: task.attempt, max_retries: task.maxRetries,
    timeout_secs: task.timeoutSecs, description: task.description || undefined, percent: task.percent, message: task.message || undefined,
    worker_id: task.workerId || undefined, result: task.result.byteLength > 0 ? showBytes(task.result) : undefined,
    error: task.error || undefined, created_at: time(task.createdAtMs), started_at: time(task.startedAtMs) ?? undefined,
    finished_at: time(task.finishedAtMs) ?? undefined, next_attempt_at: time(task.nextAttemptAtMs) ?? undefined,
    last_sequence: task.lastSequence,
  };
}

export function updateView(update: ProgressUpdate): Record<string, unknown> {
  return {
    task_id: update.taskId, sequence: update.sequence, state: stateLabel(update.state), attempt: update.attempt,
    percent: update.percent, message: update.message, timestamp: time(update.timestampMs), worker_id: update.workerId || undefined,
    result: update.result.byteLength > 0 ? showBytes(update.result) : undefined, error: update.error || undefined,
    next_attempt_at: time(update.nextAttemptAtMs) ?? undefined,
  };
}

export function updateLine(update: ProgressUpdate): string {
  const parts = [`#${update.sequence}`, stateLabel(update.state).padEnd(9), `attempt=${update.attempt}`, `${update.percent.toFixed(0).padStart(3)}%`];
  if (update.message) parts.push(update.message);
  if (update.error) parts.push(`error="${update.error}"`);
  return parts.join(" ");
}

export function taskRow(task: Task): string {
  return [task.taskId, stateLabel(task.state).padEnd(9), String(task.attempt).padStart(3), task.name, time(task.createdAtMs) ?? ""].join("  ");
}

export function workerRow(worker: WorkerInfo): string {
  return [worker.workerId, `${worker.running}/${worker.slots}`, worker.draining ? "draining" : "ready", worker.taskNames.join(",")].join("  ");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
