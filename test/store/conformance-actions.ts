/**
 * The part of the conformance suite for the operator actions: retry of one task, and the bulk
 * batches (retry, cancel, delete by selection). Registered by describeTaskStoreConformance inside
 * each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import type { ActionBatch, ActionBatchOutcome, TaskSelection } from "../../packages/server/src/store/store.js";
import { bytes, exactBackoff, newTask, T0, terms } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";
import { SignalRecorder } from "./signal-recorder.js";

export function describeActionsConformance(context: ConformanceContext): void {
  const { task, claimOnly } = context;

  /** Runs task `id` (max_retries 1) through both its attempts to failed. */
  async function failTwice(id: string, at: number): Promise<void> {
    const store = context.store();
    for (let attempt = 1; attempt <= 2; attempt++) {
      const claimed = await claimOnly("w1", at + attempt * 10);
      expect(claimed).toMatchObject({ taskId: id, attempt });
      await store.fail(claimed, { error: `boom ${attempt}`, retryable: true }, at + attempt * 10 + 1, { maxDelayMs: 0, jitter: 0 });
      if (attempt === 1) await store.promoteDue(at + attempt * 10 + 2);
    }
    expect(await task(id)).toMatchObject({ state: "failed", attempt: 2 });
  }

  describe("operator actions: retry", () => {
    it("queues a failed task again with its whole retry budget, attempt numbers going on and its events kept", async () => {
      const store = context.store();
      await store.enqueue([newTask("a", { maxRetries: 1 })], T0);
      await failTwice("a", T0);
      const before = await store.listEvents("a", 0);
      const outcome = await store.retry("a", "the upstream is fixed", T0 + 100);
      expect(outcome).toMatchObject({ retried: true, previousState: "failed", name: "resize" });
      expect(outcome?.event).toMatchObject({
        taskId: "a", sequence: before.length + 1, state: "queued", attempt: 2, timestamp: T0 + 100,
        message: "retried: a new attempt series after attempt 2 (the upstream is fixed)", error: null, workerId: null,
      });
      expect(await task("a")).toMatchObject({ state: "queued", attempt: 2, error: null, finishedAt: null, workerId: null, lastSequence: before.length + 1 });
      const events = await store.listEvents("a", 0);
      expect(events.slice(0, before.length)).toEqual(before);
      expect(events.at(-1)).toEqual(outcome?.event);
      // The new series: attempt 3 fails and is retried (budget 1 again), attempt 4 fails for good.
      const third = await claimOnly("w2", T0 + 200);
      expect(third.attempt).toBe(3);
      expect(await store.fail(third, { error: "again", retryable: true }, T0 + 201, exactBackoff)).toMatchObject({ state: "retrying" });
      await store.promoteDue(T0 + 1e7);
      const fourth = await claimOnly("w2", T0 + 1e7 + 1);
      expect(fourth.attempt).toBe(4);
      expect(await store.fail(fourth, { error: "again", retryable: true }, T0 + 1e7 + 2, exactBackoff)).toMatchObject({ state: "failed" });
    });

    it("retries a cancelled task (cancelled while running: the old attempt's result stays fenced)", async () => {
      const store = context.store();
      await store.enqueue([newTask("a")], T0);
      const first = await claimOnly("w1", T0 + 1);
      await store.cancel("a", "stop", T0 + 2);
      expect(await store.retry("a", "", T0 + 3)).toMatchObject({ retried: true, previousState: "cancelled", event: { message: "retried: a new attempt series after attempt 1" } });
      expect(await store.complete(first, bytes("late"), T0 + 4)).toBeNull();
      const second = await claimOnly("w2", T0 + 5);
      expect(second.attempt).toBe(2);
      expect(await store.complete(first, bytes("late"), T0 + 6)).toBeNull();
      expect(await store.complete(second, bytes("ok"), T0 + 7)).toMatchObject({ state: "succeeded", attempt: 2 });
    });

    it("leaves a task in any other state as it is, and answers null for an unknown task", async () => {
      const store = context.store();
      await store.enqueue([newTask("q"), newTask("r"), newTask("s"), newTask("later", { runAt: T0 + 60_000 })], T0);
      const running = await claimOnly("w1", T0 + 1);
      expect(running.taskId).toBe("q");
      await claimOnly("w1", T0 + 2);
      await store.complete({ taskId: "r", attempt: 1 }, bytes("ok"), T0 + 3);
      for (const [id, state] of [["q", "running"], ["r", "succeeded"], ["s", "queued"], ["later", "scheduled"]] as const) {
        const lastSequence = (await task(id)).lastSequence;
        expect(await store.retry(id, "", T0 + 4), id).toEqual({ retried: false, previousState: state, name: "resize", event: null });
        expect(await task(id), id).toMatchObject({ state, lastSequence });
      }
      expect(await store.retry("missing", "", T0 + 5)).toBeNull();
    });

    it("signals work available for the name, and a paused name's retried task waits for the resume", async () => {
      const store = context.store();
      await store.enqueue([newTask("a", { name: "email", maxRetries: 0 })], T0);
      const claimed = await claimOnly("w1", T0 + 1, ["email"]);
      await store.fail(claimed, { error: "boom", retryable: false }, T0 + 2, exactBackoff);
      await store.pauseName("email", "", T0 + 3);
      const recorder = new SignalRecorder(store);
      try {
        await store.retry("a", "", T0 + 4);
        await recorder.until(() => recorder.namedWork.flat().includes("email"), "work for email");
        await recorder.until(() => recorder.events.some((event) => event.taskId === "a" && event.state === "queued"), "the queued event");
      } finally {
        recorder.stop();
      }
      const [none] = await store.claim([{ workerId: "w1", names: ["email"], limit: 1 }], T0 + 5, terms);
      expect(none).toEqual([]);
      await store.resumeName("email");
      expect((await claimOnly("w1", T0 + 6, ["email"])).attempt).toBe(2);
    });

    it("a retried keyed task is claimed through its key again", async () => {
      const store = context.store();
      await store.enqueue([newTask("a", { concurrencyKey: "customer-1", maxRetries: 0 })], T0);
      const claimed = await claimOnly("w1", T0 + 1);
      await store.fail(claimed, { error: "boom", retryable: true }, T0 + 2, exactBackoff);
      await store.retry("a", "", T0 + 3);
      expect(await claimOnly("w1", T0 + 4)).toMatchObject({ taskId: "a", attempt: 2 });
    });
  });

  /** Runs an action's batches to the end, as the Scheduler does; the total changed and the batches run. */
  async function allBatches(
    run: (batch: ActionBatch) => Promise<ActionBatchOutcome>, selection: TaskSelection, limit: number, span = 1_000_000,
  ): Promise<{ changed: number; batches: number }> {
    let after = 0;
    let changed = 0;
    let batches = 0;
    for (;;) {
      const outcome = await run({ selection, after, limit, span });
      changed += outcome.changed;
      batches++;
      if (outcome.next === null) return { changed, batches };
      expect(outcome.next).toBeGreaterThan(after);
      after = outcome.next;
    }
  }

  /** Tasks in every state: s (scheduled), q (queued), r (running, worker w1), y (retrying), ok (succeeded), f (failed), c (cancelled). */
  async function everyState(prefix = "", name = "resize"): Promise<void> {
    const store = context.store();
    const id = (short: string): string => `${prefix}${short}`;
    await store.enqueue([newTask(id("r"), { name }), newTask(id("y"), { name }), newTask(id("ok"), { name }), newTask(id("f"), { name, maxRetries: 0 })], T0);
    const [claimed] = await store.claim([{ workerId: "w1", names: [name], limit: 4 }], T0 + 1, terms);
    expect(claimed?.map((attempt) => attempt.taskId)).toEqual([id("r"), id("y"), id("ok"), id("f")]);
    await store.fail({ taskId: id("y"), attempt: 1 }, { error: "boom", retryable: true }, T0 + 2, exactBackoff);
    await store.complete({ taskId: id("ok"), attempt: 1 }, bytes("ok"), T0 + 2);
    await store.fail({ taskId: id("f"), attempt: 1 }, { error: "boom", retryable: true }, T0 + 2, exactBackoff);
    await store.enqueue([newTask(id("c"), { name }), newTask(id("q"), { name }), newTask(id("s"), { name, runAt: T0 + 3_600_000 })], T0 + 3);
    await store.cancel(id("c"), "stop", T0 + 4);
  }

  async function states(ids: readonly string[]): Promise<Record<string, string>> {
    return Object.fromEntries(await Promise.all(ids.map(async (id) => [id, (await context.store().getTask(id))?.state ?? "deleted"])));
  }

  const all = ["s", "q", "r", "y", "ok", "f", "c"];

  describe("operator actions: bulk batches", () => {
    it("retryBatch retries the failed and cancelled tasks of the selection only, batch by batch", async () => {
      const store = context.store();
      await everyState();
      await everyState("e-", "email");
      for (let i = 0; i < 5; i++) {
        await store.enqueue([newTask(`more${i}`, { name: "resize-more", maxRetries: 0 })], T0 + 10 + i);
        const claimed = await claimOnly("w2", T0 + 10 + i, ["resize-more"]);
        expect(claimed.taskId).toBe(`more${i}`);
        await store.fail(claimed, { error: "boom", retryable: false }, T0 + 10 + i, exactBackoff);
      }
      const outcome = await allBatches((batch) => store.retryBatch(batch, "fixed", T0 + 100), { names: ["resize", "resize-more"] }, 2);
      expect(outcome).toEqual({ changed: 7, batches: 4 });
      expect(await states(all)).toEqual({ s: "scheduled", q: "queued", r: "running", y: "retrying", ok: "succeeded", f: "queued", c: "queued" });
      expect(await states(all.map((id) => `e-${id}`))).toMatchObject({ "e-f": "failed", "e-c": "cancelled" });
      expect((await store.listEvents("f", 0)).at(-1)).toMatchObject({ state: "queued", message: "retried: a new attempt series after attempt 1 (fixed)" });
      expect((await store.listEvents("c", 0)).at(-1)).toMatchObject({ state: "queued", attempt: 0 });
    });

    it("a batch's states are those the selection names among the action's, and created times bound it", async () => {
      const store = context.store();
      await everyState();
      // Only cancelled ones; running is not retryable and is left out.
      expect(await allBatches((batch) => store.retryBatch(batch, "", T0 + 100), { states: ["cancelled", "running"] }, 10)).toEqual({ changed: 1, batches: 1 });
      expect(await states(["f", "c", "r"])).toEqual({ f: "failed", c: "queued", r: "running" });
      // Created before T0 + 3: r, y, ok and f, of which r (running) and y (retrying) are unfinished.
      expect(await allBatches((batch) => store.cancelBatch(batch, "", T0 + 101), { createdBefore: T0 + 3 }, 10)).toMatchObject({ changed: 2 });
      expect(await states(all)).toEqual({ s: "scheduled", q: "queued", r: "cancelled", y: "cancelled", ok: "succeeded", f: "failed", c: "queued" });
    });

    it("cancelBatch cancels every unfinished task of the selection; a running attempt's event names its worker", async () => {
      const store = context.store();
      await everyState();
      const recorder = new SignalRecorder(store);
      let outcome;
      try {
        outcome = await store.cancelBatch({ selection: { names: ["resize"] }, after: 0, limit: 100, span: 1_000 }, "maintenance", T0 + 100);
        await recorder.until(() => recorder.events.filter((event) => event.state === "cancelled").length >= 4, "4 cancelled events");
      } finally {
        recorder.stop();
      }
      expect(outcome).toMatchObject({ changed: 4, next: null });
      expect(outcome.names).toEqual(["resize", "resize", "resize", "resize"]);
      expect(await states(all)).toEqual({ s: "cancelled", q: "cancelled", r: "cancelled", y: "cancelled", ok: "succeeded", f: "failed", c: "cancelled" });
      const running = recorder.events.find((event) => event.taskId === "r" && event.state === "cancelled");
      expect(running).toMatchObject({ workerId: "w1", attempt: 1, error: "maintenance" });
      expect(await store.complete({ taskId: "r", attempt: 1 }, bytes("late"), T0 + 101)).toBeNull();
      expect(await store.getTask("c")).toMatchObject({ error: "stop" });
    });

    it("deleteBatch deletes the finished tasks of the selection with their events and keys, and leaves the rest", async () => {
      const store = context.store();
      await everyState();
      await store.enqueue([newTask("keyed", { name: "other", idempotencyKey: "order-1", maxRetries: 0 })], T0 + 5);
      const claimed = await claimOnly("w2", T0 + 6, ["other"]);
      expect(claimed.taskId).toBe("keyed");
      await store.complete(claimed, bytes("ok"), T0 + 7);
      expect(await allBatches((batch) => store.deleteBatch(batch), { states: ["succeeded", "failed", "cancelled"] }, 2)).toEqual({ changed: 4, batches: 3 });
      expect(await states(all)).toEqual({ s: "scheduled", q: "queued", r: "running", y: "retrying", ok: "deleted", f: "deleted", c: "deleted" });
      expect(await store.listEvents("ok", 0)).toEqual([]);
      expect(await store.listEvents("q", 0)).toHaveLength(1);
      // The key went with its task: the same key makes a new task.
      const [again] = await store.enqueue([newTask("keyed-2", { name: "other", idempotencyKey: "order-1", maxRetries: 0 })], T0 + 8);
      expect(again?.taskId).toBe("keyed-2");
    });

    it("a batch reads at most its span of the store order: few matches among many tasks take short batches, none missed", async () => {
      const store = context.store();
      // Twelve tasks (seq 1-12); the 3rd and the 11th fail, the others stay queued.
      await store.enqueue(Array.from({ length: 12 }, (_, i) => newTask(`t${String(i + 1).padStart(2, "0")}`, { name: i === 2 || i === 10 ? "flaky" : "steady", maxRetries: 0 })), T0);
      const [claimed] = await store.claim([{ workerId: "w1", names: ["flaky"], limit: 2 }], T0 + 1, terms);
      for (const attempt of claimed ?? []) await store.fail(attempt, { error: "boom", retryable: false }, T0 + 2, exactBackoff);
      const spans: Array<number | null> = [];
      const outcome = await allBatches(async (batch) => {
        const answer = await store.retryBatch(batch, "", T0 + 3);
        spans.push(answer.next);
        return answer;
      }, { states: ["failed"] }, 500, 4);
      expect(outcome).toEqual({ changed: 2, batches: 3 });
      expect(spans).toEqual([4, 8, null]);
      expect(await states(["t03", "t11"])).toEqual({ t03: "queued", t11: "queued" });
      // The span ends a batch at the end of the store: a span past it is the last batch.
      expect(await store.deleteBatch({ selection: { states: ["succeeded"] }, after: 0, limit: 500, span: 100 })).toEqual({ changed: 0, next: null });
      expect(await store.deleteBatch({ selection: { states: ["succeeded"] }, after: 0, limit: 500, span: 5 })).toEqual({ changed: 0, next: 5 });
    });

    it("deleteBatch never deletes an unfinished task, whatever states the selection names", async () => {
      const store = context.store();
      await everyState();
      expect(await allBatches((batch) => store.deleteBatch(batch), { states: ["running", "queued", "failed"] }, 10)).toEqual({ changed: 1, batches: 1 });
      expect(await states(all)).toEqual({ s: "scheduled", q: "queued", r: "running", y: "retrying", ok: "succeeded", f: "deleted", c: "cancelled" });
    });
  });
}
