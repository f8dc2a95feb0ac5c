// Delayed tasks as real processes: a task's due time is kept in the store, so a Scheduler killed with
// SIGKILL between the submit and the due time loses nothing; the one that comes back (or another
// Scheduler on the same PostgreSQL) starts it once, on time. Several Schedulers promote due tasks
// at once without promoting any twice.
import { afterEach, describe, expect, it } from "vitest";
import { createTestStore, readAllTasks, storeBackends } from "../helpers/stores.js";
import { ScaleOutRig, until, type JournalEntry } from "../helpers/scale-out.js";

/** How late after its due time a delayed task may start: promotion, claim, push and the handler's start. */
const onTimeMs = 750;

/** Each task's journal starts, checked: exactly one start per task, none before its due time, none later than onTimeMs after it. */
function checkStarts(entries: readonly JournalEntry[], due: ReadonlyMap<string, number>): void {
  for (const [taskId, dueAt] of due) {
    const starts = entries.filter((entry) => entry.kind === "start" && entry.taskId === taskId);
    expect(starts, `starts of task ${taskId}`).toHaveLength(1);
    const late = (starts[0]?.at ?? NaN) - dueAt;
    expect(late, `task ${taskId} started ${late} ms after its due time`).toBeGreaterThanOrEqual(0);
    expect(late, `task ${taskId} started ${late} ms after its due time`).toBeLessThanOrEqual(onTimeMs);
  }
}

describe("delayed tasks across a Scheduler SIGKILL", () => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it.each(storeBackends)("a Scheduler killed after accepting delayed tasks and restarted runs each once, on time (%s store)", async (backend) => {
    rig = new ScaleOutRig(await createTestStore(backend));
    const first = await rig.scheduler();
    const port = first.address.split(":")[1] ?? "";
    const { client } = await rig.gateway([first.address]);
    await rig.worker([first.address]);
    const base = Date.now() + 4_000;
    const due = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const runAt = base + i * 100;
      const { taskId } = await client.submit({ name: "journaled", payload: { ms: 0 }, runAt: new Date(runAt) });
      due.set(taskId, runAt);
    }
    expect((await client.list({ state: "scheduled" })).tasks).toHaveLength(10);
    await first.process.stop("SIGKILL");
    // Another scheduler id (the rig names each by a fresh port): it waits out the dead one's
    // leadership (10 s), yet its due timer, armed from the store at start, promotes on time.
    const second = await rig.scheduler(["--port", port]);
    await until.retrying(() => client.get([...due.keys()][0] ?? ""), 10_000, "the Gateway to reach the restarted Scheduler");
    await until(() => rig.entries().filter((entry) => entry.kind === "done").length === 10, 15_000, "the ten delayed tasks to run");
    checkStarts(rig.entries(), due);
    await second.process.stop("SIGINT");
    const stored = await readAllTasks(rig.store);
    for (const taskId of due.keys()) {
      expect((stored.events.get(taskId) ?? []).map((event) => event.state), `events of ${taskId}`).toEqual(["scheduled", "queued", "running", "succeeded"]);
    }
  });

  it("two Schedulers on PostgreSQL promote each due task once; when the leader is killed the other starts the rest on time", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const leader = await rig.scheduler();
    await leader.process.waitForMessage(/leads maintenance/);
    const other = await rig.scheduler();
    const { client } = await rig.gateway([other.address]);
    await rig.worker([other.address], ["--slots", "40"]);

    // Both alive: twenty tasks due at the same instant, so both Schedulers' timers fire together.
    const together = Date.now() + 2_000;
    const due = new Map<string, number>();
    for (let i = 0; i < 20; i++) due.set((await client.submit({ name: "journaled", payload: { ms: 0 }, runAt: together })).taskId, together);
    // Twenty more coming due after the leader is gone.
    const later = together + 2_000;
    for (let i = 0; i < 20; i++) {
      const runAt = later + i * 50;
      due.set((await client.submit({ name: "journaled", payload: { ms: 0 }, delayMs: runAt - Date.now() })).taskId, runAt);
    }
    await until(() => rig.entries().filter((entry) => entry.kind === "done").length === 20, 10_000, "the first twenty tasks to run");
    await leader.process.stop("SIGKILL");
    await until(() => rig.entries().filter((entry) => entry.kind === "done").length === 40, 15_000, "all forty tasks to run");

    // delayMs counts from the Scheduler's acceptance, a little after Date.now() here: allow that.
    const entries = rig.entries();
    checkStarts(entries, new Map([...due].filter(([, at]) => at === together)));
    for (const [taskId, dueAt] of due) {
      if (dueAt === together) continue;
      const start = entries.find((entry) => entry.kind === "start" && entry.taskId === taskId)?.at ?? NaN;
      expect(start - dueAt, `task ${taskId}`).toBeGreaterThanOrEqual(-50);
      expect(start - dueAt, `task ${taskId}`).toBeLessThanOrEqual(onTimeMs);
      expect(entries.filter((entry) => entry.kind === "start" && entry.taskId === taskId)).toHaveLength(1);
    }
    const stored = await readAllTasks(rig.store);
    for (const taskId of due.keys()) {
      expect((stored.events.get(taskId) ?? []).map((event) => event.state), `events of ${taskId}`).toEqual(["scheduled", "queued", "running", "succeeded"]);
    }
  });
});
