// The last statements of each commit batch (GroupCommitHooks.finish): the events its writes did
// not store themselves, the transaction's id for the event feed, and the batch's one hint.
import type { TaskEvent } from "../store.js";
import type { Transaction } from "./group-commit.js";
import type { HintTarget } from "./hot-writes.js";
import { encodeHint, PostgresNotifier } from "./listener.js";
import type { EventFeed, Notifier } from "./listener.js";
import { insertEventsAndNotifySql, insertEventsSql, oneTripEndSql } from "./sql/events.js";

export interface BatchEndContext {
  notifier: Notifier;
  /** Where one-trip batches hint (null: hints do not travel by LISTEN/NOTIFY, no batch is one trip). */
  oneTripHint: HintTarget | null;
  feed: EventFeed;
  /** This store's id in its hints. */
  instanceId: string;
}

/**
 * The end of each commit batch: its events in one statement (the feed is told the transaction is
 * this process's, so it does not report them again), and one hint if it recorded events or made
 * work claimable. Not async: every statement is sent before this returns, and COMMIT follows them
 * on the pipelined connection.
 */
export function finishBatch(tx: Transaction, context: BatchEndContext): Promise<void> {
  // One-trip writes store what they record: left are none, unless a write broke that promise,
  // and then they are stored the usual way (which reads the id and hints as well).
  if (tx.oneTrip && context.oneTripHint && tx.log.eventsToStore.length === 0) return finishOneTrip(tx, context.oneTripHint, context);
  const { notifier } = context;
  const events = tx.log.eventsToStore;
  const names = tx.log.workNames;
  if (events.length === 0 && names.length === 0) return Promise.resolve();
  const hint = batchHint(context.instanceId, names, notifier.maxPayloadBytes);
  // With LISTEN/NOTIFY the hint rides on the events' statement: one round trip less per commit.
  const notifyInline = events.length > 0 && notifier instanceof PostgresNotifier;
  const statements: Array<Promise<unknown>> = [];
  if (events.length > 0) {
    const column = <K extends keyof TaskEvent>(key: K): Array<TaskEvent[K]> => events.map((event) => event[key]);
    const inserted = tx.query<{ tx: string }>(notifyInline ? insertEventsAndNotifySql : insertEventsSql, [
      column("taskId"), column("sequence"), column("state"), column("attempt"), column("percent"), column("message"),
      events.map((event) => event.timestamp + tx.skewMs), column("workerId"),
      events.map((event) => (event.result ? Buffer.from(event.result) : null)), column("error"),
      events.map((event) => (event.nextAttemptAt === null ? null : event.nextAttemptAt + tx.skewMs)),
      ...(notifyInline ? [notifier.channel, hint] : []),
    ]);
    // Told before COMMIT is sent: a feed read that could see these rows waits for their id.
    context.feed.ownTransactionStarting(inserted.then((result) => String(result.rows[0]?.tx)));
    statements.push(inserted);
  }
  if (!notifyInline) statements.push(notifier.send(tx, hint));
  return Promise.all(statements).then(() => undefined);
}

/**
 * The end of a one-trip batch, sent before any write's answer: its writes stored their events, so
 * only the transaction's id is read and the hint sent (if the batch wrote anything), with the work
 * known before the answers (submitted names; a completion that frees keys hints from its statement).
 */
function finishOneTrip(tx: Transaction, target: HintTarget, context: BatchEndContext): Promise<void> {
  const ended = tx.query<{ tx: string | null }>(oneTripEndSql, [target.channel, batchHint(context.instanceId, tx.log.workNames, target.maxPayloadBytes)]);
  context.feed.ownTransactionStarting(ended.then((result) => result.rows[0]?.tx ?? null));
  return ended.then(() => undefined);
}

/** The batch's one hint: from this store, with the names its writes made claimable (if any). */
function batchHint(instanceId: string, names: string[], maxPayloadBytes: number): string {
  return encodeHint({ from: instanceId, ...(names.length > 0 ? { work: names } : {}) }, maxPayloadBytes);
}
