import { selectionConditions, type SelectionShape } from "./selection.js";

/**
 * One batch of a bulk operator action: the selection's tasks after :after in store order (seq),
 * at most :limit, with what the action needs of each. The caller narrows the selection's states to
 * those the action applies to, so a task the action changed is not selected by the next batch.
 */
export function actionBatchSql(shape: SelectionShape): string {
  const conditions = [...selectionConditions(shape), "seq > :after"];
  return `SELECT seq, id, state, name, worker_id, concurrency_key FROM tasks WHERE ${conditions.join(" AND ")} ORDER BY seq LIMIT :limit`;
}
