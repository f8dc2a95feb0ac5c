/**
 * The part of the conformance suite for cron schedules: their rows (create, idempotent key, get,
 * list, update, delete) and the firing, which moves next_fire_at and enqueues the tick's tasks in
 * one transaction, only from the next_fire_at the firer read. Registered by
 * describeTaskStoreConformance inside each backend's suite, with its fresh store per test.
 */
import { describe, expect, it } from "vitest";
import type { NewTask, ScheduleRecord } from "../../packages/server/src/store/store.js";
import { scheduleTickKey } from "../../packages/server/src/store/store.js";
import { Code, OrchestratorError } from "../../packages/client/src/internal.js";
import { byteList, bytes, T0 } from "./conformance.js";
import type { ConformanceContext } from "./conformance-scale-out.js";

const minute = 60_000;

export function schedule(id: string, overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    id, key: null, cron: "* * * * *", timeZone: "UTC", overlap: "allow", catchUp: "one", paused: false,
    task: { name: "report", description: "nightly", payload: bytes("p"), timeoutMs: 60_000, maxRetries: 1, retryBackoffMs: 1_000, priority: 3 },
    nextFireAt: T0 + minute, lastTickMs: null, lastTaskId: null, createdAt: T0, updatedAt: T0, ...overrides,
  };
}

function tickTask(scheduleId: string, tickMs: number, id = `${scheduleId}@${tickMs}`): NewTask {
  return {
    id, name: "report", description: "nightly", payload: bytes("p"), timeoutMs: 60_000, maxRetries: 1, retryBackoffMs: 1_000,
    priority: 3, runAt: null, scheduleId, scheduleTickMs: tickMs, idempotencyKey: scheduleTickKey(scheduleId, tickMs),
  };
}

export function describeScheduleConformance(context: ConformanceContext): void {
  const { task } = context;

  describe("schedules", () => {
    it("creates, gets by id and by key, lists oldest first, updates and deletes", async () => {
      const store = context.store();
      const created = await store.createSchedule(schedule("s1", { key: "nightly" }));
      expect(created.created).toBe(true);
      await store.createSchedule(schedule("s2", { createdAt: T0 + 1 }));
      const byId = await store.getSchedule("s1");
      expect(byId).toMatchObject({ id: "s1", key: "nightly", cron: "* * * * *", timeZone: "UTC", overlap: "allow", catchUp: "one", paused: false, nextFireAt: T0 + minute, lastTickMs: null, lastTaskId: null });
      expect(byteList(byId?.task.payload)).toEqual(byteList(bytes("p")));
      expect(byId?.task).toMatchObject({ name: "report", description: "nightly", timeoutMs: 60_000, maxRetries: 1, retryBackoffMs: 1_000, priority: 3 });
      expect((await store.getSchedule("nightly"))?.id).toBe("s1");
      expect(await store.getSchedule("nope")).toBeNull();
      expect((await store.listSchedules()).map((s) => s.id)).toEqual(["s1", "s2"]);

      const updated = await store.updateSchedule(schedule("s1", { key: "nightly", cron: "*/5 * * * *", timeZone: "Europe/Berlin", overlap: "skip", catchUp: "all", paused: true, nextFireAt: null, updatedAt: T0 + 5 }));
      expect(updated).toMatchObject({ id: "s1", cron: "*/5 * * * *", timeZone: "Europe/Berlin", overlap: "skip", catchUp: "all", paused: true, nextFireAt: null, updatedAt: T0 + 5, createdAt: T0 });
      expect(await store.getSchedule("s1")).toMatchObject({ paused: true, nextFireAt: null });
      expect(await store.updateSchedule(schedule("gone"))).toBeNull();

      expect(await store.deleteSchedule("s1")).toBe(true);
      expect(await store.deleteSchedule("s1")).toBe(false);
      expect(await store.getSchedule("nightly")).toBeNull();
      expect((await store.listSchedules()).map((s) => s.id)).toEqual(["s2"]);
    });

    it("answers a repeated create with one key and the same fields with the stored schedule, and refuses different fields", async () => {
      const store = context.store();
      await store.createSchedule(schedule("s1", { key: "nightly" }));
      // The repeat's id and times are its own; paused is not compared (a retried create after a pause still matches).
      const repeat = await store.createSchedule(schedule("s1-again", { key: "nightly", createdAt: T0 + 9, paused: true }));
      expect(repeat).toMatchObject({ created: false, schedule: { id: "s1", createdAt: T0 } });
      const refused = await store.createSchedule(schedule("s1-other", { key: "nightly", cron: "0 * * * *" })).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(OrchestratorError);
      expect((refused as OrchestratorError).code).toBe(Code.AlreadyExists);
      expect((refused as OrchestratorError).message).toContain("s1");
      const otherPayload = await store.createSchedule(schedule("s1-p", { key: "nightly", task: { ...schedule("x").task, payload: bytes("q") } })).then(() => null, (error: unknown) => error);
      expect((otherPayload as OrchestratorError).code).toBe(Code.AlreadyExists);
      expect((await store.listSchedules()).map((s) => s.id)).toEqual(["s1"]);
      // Without a key every create is a new schedule.
      await store.createSchedule(schedule("s2"));
      await store.createSchedule(schedule("s3"));
      expect((await store.listSchedules()).map((s) => s.id)).toEqual(["s1", "s2", "s3"]);
    });

    it("lists due unpaused schedules earliest first and tells the earliest next fire time", async () => {
      const store = context.store();
      expect(await store.nextScheduleFireAt()).toBeNull();
      await store.createSchedule(schedule("late", { nextFireAt: T0 + 3 * minute }));
      await store.createSchedule(schedule("early", { nextFireAt: T0 + minute }));
      await store.createSchedule(schedule("paused", { paused: true, nextFireAt: null }));
      expect(await store.nextScheduleFireAt()).toBe(T0 + minute);
      expect(await store.dueSchedules(T0 + minute - 1, 10)).toEqual([]);
      expect((await store.dueSchedules(T0 + 3 * minute, 10)).map((s) => s.id)).toEqual(["early", "late"]);
      expect((await store.dueSchedules(T0 + 3 * minute, 1)).map((s) => s.id)).toEqual(["early"]);
    });

    it("fires a tick: moves next_fire_at and enqueues the task carrying the schedule and tick, together", async () => {
      const store = context.store();
      await store.createSchedule(schedule("s1"));
      const tick = T0 + minute;
      const events = await store.fireSchedule({ scheduleId: "s1", expectedNextFireAt: tick, nextFireAt: tick + minute, tasks: [tickTask("s1", tick)], lastTickMs: tick }, tick + 5);
      expect(events).toEqual([expect.objectContaining({ taskId: `s1@${tick}`, sequence: 1, state: "queued" })]);
      expect(await task(`s1@${tick}`)).toMatchObject({ state: "queued", name: "report", priority: 3, scheduleId: "s1", scheduleTickMs: tick });
      expect(await store.getSchedule("s1")).toMatchObject({ nextFireAt: tick + minute, lastTickMs: tick, lastTaskId: `s1@${tick}`, updatedAt: tick + 5 });
      expect(await store.nextScheduleFireAt()).toBe(tick + minute);
      const listed = (await store.listTasks({ limit: 10 })).tasks;
      expect(listed.map((t) => [t.id, t.scheduleId, t.scheduleTickMs])).toEqual([[`s1@${tick}`, "s1", tick]]);
      // A submitted task names no schedule.
      expect((await store.enqueue([{ ...tickTask("s1", 0, "plain"), scheduleId: undefined, scheduleTickMs: undefined, idempotencyKey: undefined }], T0)).length).toBe(1);
      expect(await task("plain")).toMatchObject({ scheduleId: null, scheduleTickMs: null });
    });

    it("writes nothing for a firer whose next_fire_at is stale, and a repeated tick cannot make a second task", async () => {
      const store = context.store();
      await store.createSchedule(schedule("s1"));
      const tick = T0 + minute;
      const firing = { scheduleId: "s1", expectedNextFireAt: tick, nextFireAt: tick + minute, tasks: [tickTask("s1", tick, "first")], lastTickMs: tick };
      // Two firers of one tick at once: one wins.
      const both = await Promise.all([store.fireSchedule(firing, tick), store.fireSchedule({ ...firing, tasks: [tickTask("s1", tick, "second")] }, tick)]);
      expect(both.filter((answer) => answer !== null)).toHaveLength(1);
      expect(both.filter((answer) => answer === null)).toHaveLength(1);
      expect(await store.fireSchedule({ ...firing, tasks: [tickTask("s1", tick, "third")] }, tick + 1)).toBeNull();
      const tasks = (await store.listTasks({ limit: 10 })).tasks;
      expect(tasks.map((t) => t.scheduleTickMs)).toEqual([tick]);
      expect(await store.getSchedule("s1")).toMatchObject({ nextFireAt: tick + minute, lastTickMs: tick });

      // A firing that repeats an already fired tick (next_fire_at set back by hand) answers the first task.
      await store.updateSchedule({ ...(await store.getSchedule("s1"))!, nextFireAt: tick });
      const repeat = await store.fireSchedule({ ...firing, tasks: [tickTask("s1", tick, "fourth")] }, tick + 2);
      expect(repeat?.map((event) => event.taskId)).toEqual([tasks[0]?.id]);
      expect((await store.listTasks({ limit: 10 })).tasks).toHaveLength(1);
    });

    it("fires several missed ticks oldest first, or none (a skipped tick only moves next_fire_at), and a deleted schedule not at all", async () => {
      const store = context.store();
      await store.createSchedule(schedule("s1"));
      const ticks = [T0 + minute, T0 + 2 * minute, T0 + 3 * minute];
      const events = await store.fireSchedule({ scheduleId: "s1", expectedNextFireAt: T0 + minute, nextFireAt: T0 + 4 * minute, tasks: ticks.map((tick) => tickTask("s1", tick)), lastTickMs: T0 + 3 * minute }, T0 + 3 * minute);
      expect(events?.map((event) => event.taskId)).toEqual(ticks.map((tick) => `s1@${tick}`));
      expect(await store.getSchedule("s1")).toMatchObject({ nextFireAt: T0 + 4 * minute, lastTaskId: `s1@${T0 + 3 * minute}` });
      expect(await store.fireSchedule({ scheduleId: "s1", expectedNextFireAt: T0 + 4 * minute, nextFireAt: T0 + 5 * minute, tasks: [], lastTickMs: T0 + 4 * minute }, T0 + 4 * minute)).toEqual([]);
      expect(await store.getSchedule("s1")).toMatchObject({ nextFireAt: T0 + 5 * minute, lastTickMs: T0 + 4 * minute, lastTaskId: `s1@${T0 + 3 * minute}` });
      expect((await store.listTasks({ limit: 10 })).tasks).toHaveLength(3);
      await store.deleteSchedule("s1");
      expect(await store.fireSchedule({ scheduleId: "s1", expectedNextFireAt: T0 + 5 * minute, nextFireAt: T0 + 6 * minute, tasks: [tickTask("s1", T0 + 5 * minute)], lastTickMs: T0 + 5 * minute }, T0 + 5 * minute)).toBeNull();
      expect((await store.listTasks({ limit: 10 })).tasks).toHaveLength(3);
    });
  });
}
