import { createHash } from "node:crypto";
import { Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import type { NewTask, TaskRecord } from "./store.js";

/**
 * What makes two submits with one idempotency key "the same request": every field of the task the
 * client chose, as the Scheduler stores it (defaults filled in, so an unset timeout_secs equals 300).
 * The id is the Scheduler's, the key is the key. Stored with the key as a hash, so a repeat costs no
 * read of the first task's payload.
 */
export function requestFingerprint(task: NewTask): string {
  const base: unknown[] = [1, task.name, task.description, task.timeoutMs, task.maxRetries, task.retryBackoffMs];
  // Appended only when set, so a key stored before these fields existed still matches its plain repeat.
  // The start is fingerprinted as asked (delay_ms 30000, not the instant it gave), so a repeat matches.
  const start = task.requestedStart;
  const extra = task.priority !== 0 || start !== undefined
    ? [task.priority, start && "delayMs" in start ? "delay" : "at", start ? ("delayMs" in start ? start.delayMs : start.runAtMs) : null]
    : [];
  const keyed = task.concurrencyKey ? [task.concurrencyKey, task.concurrencyLimit ?? null] : [];
  const fields = JSON.stringify([...base, ...extra, ...keyed]);
  // JSON escapes NUL, so the separator cannot occur in the fields and the payload bytes follow unambiguously.
  return createHash("sha256").update(fields).update("\0").update(task.payload).digest("hex");
}

/**
 * The refusal of a key reused with a different request, as payment APIs answer a reused key with
 * changed parameters: the first task is named, so a client that lost track of it can look it up.
 */
export function keyReusedError(key: string, task: NewTask, existing: TaskRecord | null, existingId: string): OrchestratorError {
  const changed = existing ? differingFields(task, existing) : [];
  // Every other fingerprinted field compares equal: the start the client asked for differs (the
  // record holds only the instant it gave, not whether it was asked as run_at_ms or delay_ms).
  const what = changed.length > 0 ? `a different ${changed.join(", ")}` : existing ? "a different run_at_ms or delay_ms" : "different task fields";
  return new OrchestratorError(
    Code.AlreadyExists,
    `idempotency key "${key}" already belongs to task ${existingId}, which was submitted with ${what}; `
      + "repeat the same request to get that task, or use a new key for a new task",
  );
}

function differingFields(task: NewTask, existing: TaskRecord): string[] {
  const fields: Array<[string, boolean]> = [
    ["name", task.name !== existing.name],
    ["payload", !Buffer.from(task.payload).equals(Buffer.from(existing.payload))],
    ["description", task.description !== existing.description],
    ["timeout_secs", task.timeoutMs !== existing.timeoutMs],
    ["max_retries", task.maxRetries !== existing.maxRetries],
    ["retry_backoff_ms", task.retryBackoffMs !== existing.retryBackoffMs],
    ["priority", task.priority !== existing.priority],
    ["concurrency_key", (task.concurrencyKey ?? null) !== (existing.concurrencyKey ?? null)],
    ["concurrency_limit", (task.concurrencyLimit ?? null) !== (existing.concurrencyLimit ?? null)],
  ];
  return fields.filter(([, differs]) => differs).map(([field]) => field);
}
