import { isTerminal, type TaskInfo, type TaskUpdate, type WorkerSummary } from "orchestrator-ts-client";

/**
 * A task's result as a person or a program wants it: the value when the bytes are JSON, the text
 * when they are UTF-8, base64 otherwise. Handlers return JSON for anything but bytes and strings,
 * so most results are JSON, and printing them as a string holding JSON helps nobody.
 */
export type DecodedResult =
  | { encoding: "json"; value: unknown }
  | { encoding: "text"; value: string }
  | { encoding: "base64"; value: string };

export function decodeResult(bytes: Uint8Array): DecodedResult {
  const buffer = Buffer.from(bytes);
  const text = buffer.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(buffer)) return { encoding: "base64", value: buffer.toString("base64") };
  try {
    return { encoding: "json", value: JSON.parse(text) as unknown };
  } catch {
    return { encoding: "text", value: text };
  }
}

/** `result` (the decoded value) and `result_encoding`, which tells a JSON string from a text result. */
function resultFields(bytes: Uint8Array | null): { result?: unknown; result_encoding?: DecodedResult["encoding"] } {
  if (!bytes) return {};
  const decoded = decodeResult(bytes);
  return { result: decoded.value, result_encoding: decoded.encoding };
}

/** The result for people: JSON pretty-printed, text as it is, binary as base64 and said so. */
export function resultBlock(bytes: Uint8Array): string {
  const decoded = decodeResult(bytes);
  switch (decoded.encoding) {
    case "json":
      return `result (JSON):\n${JSON.stringify(decoded.value, null, 2)}`;
    case "text":
      return `result (text, ${bytes.byteLength} bytes):\n${decoded.value}`;
    case "base64":
      return `result (binary, ${bytes.byteLength} bytes, shown as base64):\n${decoded.value}`;
  }
}

const time = (date: Date | null): string | undefined => date?.toISOString();

/**
 * The stored progress message, named for what it is. While a task is active it is its progress.
 * Once the task has ended, the state, result or error answer the question and the message is only
 * the last thing an attempt reported ("parsing payload" next to "succeeded" reads as if the task
 * were still at it): left out for a success, and kept as `last_progress_message` for a failure or
 * a cancel, where it tells how far the attempt got.
 */
function progressFields(task: TaskInfo): { message?: string; last_progress_message?: string } {
  if (!task.message) return {};
  if (!isTerminal(task.state)) return { message: task.message };
  return task.state === "succeeded" ? {} : { last_progress_message: task.message };
}

export function taskView(task: TaskInfo): Record<string, unknown> {
  return {
    task_id: task.taskId, name: task.name, state: task.state, attempt: task.attempt, max_retries: task.maxRetries,
    timeout_secs: task.timeoutSecs, description: task.description || undefined, percent: task.percent, ...progressFields(task),
    worker_id: task.workerId ?? undefined, ...resultFields(task.result),
    error: task.error ?? undefined, created_at: time(task.createdAt), started_at: time(task.startedAt),
    finished_at: time(task.finishedAt), next_attempt_at: time(task.nextAttemptAt),
    last_sequence: task.lastSequence, priority: task.priority, run_at: time(task.runAt),
    concurrency_key: task.concurrencyKey ?? undefined, concurrency_limit: task.concurrencyLimit ?? undefined,
  };
}

export function updateView(update: TaskUpdate): Record<string, unknown> {
  return {
    task_id: update.taskId, sequence: update.sequence, state: update.state, attempt: update.attempt,
    percent: update.percent, message: update.message, timestamp: time(update.timestamp), worker_id: update.workerId ?? undefined,
    ...resultFields(update.result), error: update.error ?? undefined,
    next_attempt_at: time(update.nextAttemptAt),
  };
}

export function workerView(worker: WorkerSummary): Record<string, unknown> {
  return {
    worker_id: worker.workerId, task_names: worker.taskNames, slots: worker.slots, running: worker.running, prefetch: worker.prefetch, held: worker.held,
    draining: worker.draining, connected_at: time(worker.connectedAt), last_seen_at: time(worker.lastSeenAt),
  };
}

/** Label/value lines with the values in one column; rows without a value are left out. */
function fields(rows: [string, string | undefined][]): string {
  const shown = rows.filter((row): row is [string, string] => row[1] !== undefined && row[1] !== "");
  const width = Math.max(...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join("\n");
}

/** `get` for people: the task's fields, then its result decoded. */
export function taskText(task: TaskInfo): string {
  const progress = progressFields(task);
  const text = fields([
    ["task id", task.taskId],
    ["name", task.name],
    ["description", task.description],
    ["state", task.state],
    ["attempt", `${task.attempt} of at most ${task.maxRetries + 1}`],
    ["priority", task.priority === 0 ? undefined : String(task.priority)],
    ["concurrency key", task.concurrencyKey ?? undefined],
    ["concurrency limit", task.concurrencyLimit === null ? undefined : `${task.concurrencyLimit} running at once for this key`],
    ["progress", progress.message === undefined ? undefined : `${task.percent.toFixed(0)}% ${progress.message}`],
    ["last progress", progress.last_progress_message],
    ["worker", task.workerId ?? undefined],
    ["error", task.error ?? undefined],
    ["created", time(task.createdAt)],
    ["started", time(task.startedAt)],
    ["finished", time(task.finishedAt)],
    ["run at", time(task.runAt)],
    ["next attempt", task.state === "retrying" ? time(task.nextAttemptAt) : undefined],
  ]);
  return task.result ? `${text}\n${resultBlock(task.result)}` : text;
}

/** How a followed task ended, for people: state and attempt, then the result or the error. */
export function outcomeText(update: TaskUpdate): string {
  const head = `${update.state} on attempt ${update.attempt}`;
  if (update.error) return `${head}: ${update.error}`;
  if (update.result) return `${head}\n${resultBlock(update.result)}`;
  return update.state === "succeeded" ? `${head} (no result)` : head;
}

export function updateLine(update: TaskUpdate): string {
  const parts = [`#${update.sequence}`, update.state.padEnd(9), `attempt=${update.attempt}`, `${update.percent.toFixed(0).padStart(3)}%`];
  if (update.message) parts.push(update.message);
  if (update.error) parts.push(`error="${update.error}"`);
  return parts.join(" ");
}

/** Rows under a header, each column as wide as its widest cell; no trailing spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  ");
  return [header, ...rows].map(line).join("\n");
}

export function taskTable(tasks: TaskInfo[]): string {
  return table(["TASK ID", "STATE", "ATTEMPT", "NAME", "CREATED"], tasks.map((task) => [task.taskId, task.state, String(task.attempt), task.name, time(task.createdAt) ?? ""]));
}

export function workerTable(workers: WorkerSummary[]): string {
  return table(
    ["WORKER ID", "RUNNING/SLOTS", "STATE", "TASK NAMES"],
    workers.map((worker) => [worker.workerId, `${worker.running}/${worker.slots}${worker.held > 0 ? ` (${worker.held} held)` : ""}`, worker.draining ? "draining" : "ready", worker.taskNames.join(",")]),
  );
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
