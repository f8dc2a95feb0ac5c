// Where this process's last plain claim of each task name ended, so that the next claim reads the
// name's queue from there (see plainClaimSql). A cursor is only a place to start: it is forgotten
// whenever a task of its name may have become queued before it, and then the claim reads the queue
// from its head again.
import type { NewTask } from "../store.js";
import type { Row } from "./rows.js";

interface Position {
  priority: number;
  seq: number;
}

export class ClaimCursors {
  private readonly positions = new Map<string, Position>();

  /** The cursors of `names`, in their order, as plainClaimSql's $7 and $8 (null: none). */
  of(names: readonly string[]): { priorities: Array<number | null>; seqs: Array<number | null> } {
    const found = names.map((name) => this.positions.get(name));
    return { priorities: found.map((at) => at?.priority ?? null), seqs: found.map((at) => at?.seq ?? null) };
  }

  /** After a claim: each name's cursor moves to the last task handed out (`started` in claim order). */
  claimed(started: readonly Row[]): void {
    for (const row of started) this.positions.set(String(row.name), { priority: Number(row.priority), seq: Number(row.seq) });
  }

  /**
   * New tasks of this process: their seq is above every cursor's (this process's writes commit one
   * batch at a time), so only a higher priority puts one before its name's cursor.
   */
  enqueued(tasks: readonly NewTask[]): void {
    for (const task of tasks) {
      const at = this.positions.get(task.name);
      if (at && task.priority > at.priority) this.positions.delete(task.name);
    }
  }

  /**
   * Tasks of these names may have become queued anywhere in their queue (promoted retries, another
   * writer's tasks whose commit came after this process claimed past their seq); null: any name.
   */
  forget(names: readonly string[] | null): void {
    if (names === null) this.positions.clear();
    else for (const name of names) this.positions.delete(name);
  }
}
