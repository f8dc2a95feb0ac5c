import { selectionConditions, type SelectionShape } from "./selection.js";

/**
 * One batch of a bulk operator action: the selection's tasks in store order (seq) after :after up
 * to :upTo, at most :limit, with what the action needs of each. The caller narrows the selection's
 * states to those the action applies to, so a task the action changed is not selected by the next
 * batch. NOT INDEXED: the batch walks the seq range itself (the rowid) and stops at :limit; through
 * the (state, name) index it would gather and sort every match after :after, batch after batch.
 */
export function actionBatchSql(shape: SelectionShape): string {
  const conditions = [...selectionConditions(shape), "seq > :after", "seq <= :upTo"];
  return `SELECT seq, id, state, name, worker_id, concurrency_key FROM tasks NOT INDEXED WHERE ${conditions.join(" AND ")} ORDER BY seq LIMIT :limit`;
}

/** The end of the store order: a batch that found fewer than its limit goes on past its span only while tasks lie beyond it. */
export const lastSeqSql = `SELECT max(seq) AS last FROM tasks`;
