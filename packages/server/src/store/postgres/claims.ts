// How a claim of one name takes its keyed tasks (the SQLite store's claimKeyed, in three statements
// per pass), and how claimed rows become attempts and events.
import type pg from "pg";
import type { ClaimedAttempt, LeaseTerms } from "../store.js";
import { decodeTraceContext } from "../store.js";
import { earliest, keyBudget } from "../rate-gate.js";
import type { KeyRate } from "../rate-gate.js";
import type { Transaction } from "./group-commit.js";
import { record } from "./rows.js";
import type { Row } from "./rows.js";
import { claimOfKeysSql, lockWaitingKeysSql, visitedKeysSql } from "./sql/concurrency.js";

/** Key passes one claim of one name makes at most (see claimKeyed). */
const maxKeyPasses = 4;

/**
 * Passes over the name's waiting keys, least recently visited first: each key gets its share of
 * the slots left, within its room (bound minus running attempts), and goes to the back. Another
 * pass runs while slots are left and the last pass found as many keys as it asked for.
 */
export async function claimKeyed(
  tx: Transaction, workerId: string, name: string, limit: number, now: number, terms: LeaseTerms, claimed: ClaimedAttempt[], rate: KeyRate | null,
  sent: Array<Promise<unknown>>, firstKeys: Promise<pg.QueryResult> | null = null,
): Promise<number | null> {
  const at = now + tx.skewMs;
  let left = limit;
  let heldUntil: number | null = null;
  for (let pass = 0; pass < maxKeyPasses && left > 0; pass++) {
    const asked = left;
    // The first pass's keys may have been asked for with the gate, for at least as many slots.
    const locked = pass === 0 && firstKeys ? await firstKeys : await tx.query(lockWaitingKeysSql, [name, asked]);
    const keys = locked.rows.slice(0, asked);
    if (keys.length === 0) break;
    // The slots spread as evenly as they go, the earlier keys getting the remainder; with a per-key
    // rate limit, no key gets more than its window has left (the rows are locked: no other claim
    // spends it meanwhile).
    const windows = keys.map((key) => (rate ? keyBudget(rate, Number(key.rate_window_start), Number(key.rate_used), now) : null));
    const shares = keys.map((_, index) => {
      const share = Math.floor(asked / keys.length) + (index < asked % keys.length ? 1 : 0);
      const window = windows[index];
      if (window && window.allowed < share) heldUntil = earliest(heldUntil, window.opensAt);
      return Math.min(share, window?.allowed ?? Infinity);
    });
    const names = keys.map((key) => String(key.key));
    const { rows } = await tx.query(claimOfKeysSql, [
      workerId, name, names, at, at + terms.leaseMs, terms.deadlineGraceMs,
      keys.map((key) => (key.max_running === null ? null : Number(key.max_running))), shares,
    ]);
    // In the keys' turn order, as the SQLite store hands them out.
    const turn = new Map(names.map((key, index) => [key, index]));
    rows.sort((a, b) => (turn.get(String(a.concurrency_key)) ?? 0) - (turn.get(String(b.concurrency_key)) ?? 0) || byClaimOrder(a, b));
    left -= rows.length;
    recordClaimed(tx, workerId, rows, now, claimed);
    const took = names.map((key) => rows.filter((row) => row.concurrency_key === key).length);
    // Not awaited here: statements run in the order they are sent on the batch's connection, so
    // whatever this transaction sends next (the next pass, the next claim's section) sees it; the
    // claim awaits it once its section has ended (see `sent`).
    sendAhead(sent, tx.query(visitedKeysSql, [
      name, names, at,
      keys.map((key, index) => windows[index]?.windowStart ?? Number(key.rate_window_start)),
      keys.map((key, index) => { const window = windows[index]; return window ? window.used + (took[index] ?? 0) : Number(key.rate_used); }),
    ]));
    if (keys.length < asked) break;
  }
  return heldUntil;
}

/**
 * Keeps a statement whose answer nobody reads for the caller to await later. Its failure aborts
 * the transaction (so the statements after it fail too) and is seen when the caller awaits it.
 */
export function sendAhead(sent: Array<Promise<unknown>>, statement: Promise<unknown>): void {
  statement.catch(() => undefined);
  sent.push(statement);
}

export function byClaimOrder(a: Row, b: Row): number {
  return Number(b.priority) - Number(a.priority) || Number(a.seq) - Number(b.seq);
}

export function recordClaimed(tx: Transaction, workerId: string, rows: readonly Row[], now: number, claimed: ClaimedAttempt[]): void {
  for (const row of rows) {
    const attempt = Number(row.attempt);
    const event = record(tx, {
      taskId: String(row.id), sequence: Number(row.last_sequence), state: "running", attempt,
      percent: 0, message: `attempt ${attempt} started`, timestamp: now, workerId,
    });
    claimed.push({
      taskId: String(row.id), attempt, workerId, name: String(row.name),
      payload: row.payload as Uint8Array, timeoutMs: Number(row.timeout_ms), maxRetries: Number(row.max_retries), event,
      traceContext: decodeTraceContext(row.trace_context),
      runnableSince: Math.max(Number(row.created_at), Number(row.run_at ?? 0)) - tx.skewMs,
    });
  }
}

