// Cron schedules through the Scheduler, in-process, with a manual clock, on every store backend:
// the fire times over a day with a DST change equal croner's own, overlap skip and allow, each
// catch-up policy after a downtime (with the bound), and pause/resume. The sweep runs far less
// often than the ticks here, so every firing is the schedule timer's.
import { Cron } from "croner";
import { afterEach, describe, expect, it } from "vitest";
import { CatchUpPolicy, OverlapPolicy } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { CreateScheduleRequest } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import type { CompiledSchedulerOptions } from "../../packages/server/src/scheduler/options.js";
import type { Scheduler } from "../../packages/server/src/scheduler/scheduler.js";
import { scheduleTiming } from "../../packages/server/src/scheduler/schedules.js";
import type { ScheduleRecord, TaskRecord, TaskStore } from "../../packages/server/src/store/store.js";
import { ManualClock } from "../../packages/server/src/util/clock.js";
import { manualOptions, ManualStore, startScheduler, turnOf, untilOf } from "../helpers/manual-scheduler.js";
import { storeBackends } from "../helpers/stores.js";

const SWEEP_MS = 24 * 3600 * 1000;
const minute = 60_000;
/** 2026-01-01T00:00:30Z: half a minute before a minute tick. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 30);

for (const backend of storeBackends) {
  describe(`Scheduler cron schedules (${backend} store)`, () => {
    let rig: ManualStore;
    let clock: ManualClock;
    let store: TaskStore;
    let options: CompiledSchedulerOptions;
    let scheduler: Scheduler;

    const turn = turnOf(backend);
    const until = untilOf(backend);
    const eventually = (condition: () => Promise<boolean>, what: string): Promise<void> => until(condition, what, 3000);

    async function open(start: number): Promise<void> {
      clock = new ManualClock(start);
      rig = await ManualStore.open(backend, clock, "orchestrator-schedules-");
      store = rig.store;
      options = manualOptions(rig.directory, SWEEP_MS);
      scheduler = await startScheduler(store, clock, options);
    }

    afterEach(async () => {
      await scheduler.stop();
      await rig.remove();
    });

    function request(cron: string, extra: Partial<CreateScheduleRequest> = {}): CreateScheduleRequest {
      return {
        key: "", cron, timeZone: "UTC", task: { name: "report", description: "", payload: Buffer.from("p") },
        overlap: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchUp: CatchUpPolicy.CATCH_UP_POLICY_ONE, paused: false, ...extra,
      };
    }

    async function current(id: string): Promise<ScheduleRecord> {
      const schedule = await store.getSchedule(id);
      if (!schedule) throw new Error(`schedule ${id} is gone`);
      return schedule;
    }

    async function firedTasks(id: string): Promise<TaskRecord[]> {
      const tasks = (await store.listTasks({ limit: 1000 })).tasks.filter((task) => task.scheduleId === id);
      return tasks.sort((a, b) => (a.scheduleTickMs ?? 0) - (b.scheduleTickMs ?? 0));
    }

    /** Moves the clock to the schedule's next tick and waits until that tick is handled (next_fire_at moved on). */
    async function toNextTick(id: string): Promise<number> {
      const tick = (await current(id)).nextFireAt;
      if (tick === null) throw new Error("no next tick");
      clock.advance(tick - clock.now());
      await eventually(async () => (await current(id)).nextFireAt !== tick, `the tick ${new Date(tick).toISOString()} to be handled`);
      return tick;
    }

    /** Stops the Scheduler, lets `downMs` pass with nothing running, and starts a new one on the same store. */
    async function downtime(downMs: number): Promise<void> {
      await scheduler.stop();
      clock.advance(downMs);
      scheduler = await startScheduler(store, clock, options);
      // The new Scheduler armed its timer for the overdue tick: due now.
      clock.advance(0);
    }

    const dstDays = [
      { name: "the spring-forward of 2026-03-29", start: Date.UTC(2026, 2, 28, 22, 0), cron: "*/30 * * * *" },
      { name: "the fall-back of 2026-10-25", start: Date.UTC(2026, 9, 24, 22, 0), cron: "*/30 * * * *" },
      { name: "the spring-forward of 2026-03-29, at wall times the change skips", start: Date.UTC(2026, 2, 27, 22, 0), cron: "15 1,2,3 * * *" },
    ];
    for (const day of dstDays) {
      it(`fires at croner's own times in Europe/Berlin over ${day.name}, each tick at its time`, async () => {
        await open(day.start);
        const { schedule } = await scheduler.schedules.create(request(day.cron, { timeZone: "Europe/Berlin" }));
        const end = day.start + 3 * 24 * 3600 * 1000;
        // croner's own times: its nextRun chained from each run (as croner's own job loop does), and
        // its nextRuns list, which (croner 10.0.1) names the last hour before a spring-forward twice
        // (01:00Z, 01:30Z, 01:00Z, ...): the same times once each, in order.
        const cron = new Cron(day.cron, { timezone: "Europe/Berlin", paused: true });
        const expected: number[] = [];
        for (let run = cron.nextRun(new Date(day.start)); run && run.getTime() < end; run = cron.nextRun(run)) expected.push(run.getTime());
        const listed = cron.nextRuns(1000, new Date(day.start)).map((date) => date.getTime()).filter((time) => time < end);
        expect([...new Set(listed)].sort((a, b) => a - b)).toEqual(expected);
        const fired: number[] = [];
        while ((await current(schedule.id)).nextFireAt !== null && ((await current(schedule.id)).nextFireAt ?? end) < end) fired.push(await toNextTick(schedule.id));
        expect(fired).toEqual(expected);
        const tasks = await firedTasks(schedule.id);
        expect(tasks.map((task) => task.scheduleTickMs)).toEqual(expected);
        // Each fired at its tick, not later.
        expect(tasks.map((task) => task.createdAt)).toEqual(expected);
        expect(tasks.every((task) => task.name === "report" && task.state === "queued")).toBe(true);
      });
    }

    it("overlap allow fires every tick; skip fires none while the previous tick's task is unfinished", async () => {
      await open(T0);
      const allow = (await scheduler.schedules.create(request("* * * * *"))).schedule;
      const skip = (await scheduler.schedules.create(request("* * * * *", { overlap: OverlapPolicy.OVERLAP_POLICY_SKIP }))).schedule;
      for (let index = 0; index < 3; index++) {
        await toNextTick(allow.id);
        await eventually(async () => (await current(skip.id)).nextFireAt === (await current(allow.id)).nextFireAt, "both schedules to handle the tick");
      }
      expect(await firedTasks(allow.id)).toHaveLength(3);
      const skipped = await firedTasks(skip.id);
      // Nothing runs the tasks (no worker): the first stays queued, so the next two ticks are skipped.
      expect(skipped.map((task) => task.scheduleTickMs)).toEqual([T0 + 30_000]);
      expect(await current(skip.id)).toMatchObject({ lastTickMs: T0 + 30_000 + 2 * minute, lastTaskId: skipped[0]?.id });
      await scheduler.cancel(skipped[0]?.id ?? "", "done with it");
      await toNextTick(skip.id);
      expect((await firedTasks(skip.id)).map((task) => task.scheduleTickMs)).toEqual([T0 + 30_000, T0 + 30_000 + 3 * minute]);
    });

    const catchUps = [
      { policy: CatchUpPolicy.CATCH_UP_POLICY_SKIP, name: "skip", fired: (ticks: number[]) => ticks.slice(-1) },
      { policy: CatchUpPolicy.CATCH_UP_POLICY_ONE, name: "one", fired: (ticks: number[]) => ticks.slice(-2) },
      { policy: CatchUpPolicy.CATCH_UP_POLICY_ALL, name: "all", fired: (ticks: number[]) => ticks },
    ];
    for (const catchUp of catchUps) {
      it(`catch-up ${catchUp.name} after a downtime: the ticks missed by more than the grace follow the policy, a recent one fires`, async () => {
        await open(T0);
        const { schedule } = await scheduler.schedules.create(request("* * * * *", { catchUp: catchUp.policy }));
        const first = await toNextTick(schedule.id);
        // Down from just after the first tick to 30 s after the tenth: ticks 2..9 are missed, tick 10 is within the grace.
        await downtime(9 * minute + 30_000 - 1);
        const ticks = Array.from({ length: 9 }, (_, index) => first + (index + 1) * minute);
        await eventually(async () => (await current(schedule.id)).nextFireAt === first + 10 * minute, "the catch-up firing");
        expect((await firedTasks(schedule.id)).map((task) => task.scheduleTickMs)).toEqual([first, ...catchUp.fired(ticks)]);
        expect(await current(schedule.id)).toMatchObject({ lastTickMs: first + 9 * minute });
      });
    }

    it(`catch-up all fires at most the latest ${scheduleTiming.catchUpMax} missed ticks, oldest first`, async () => {
      await open(T0);
      const { schedule } = await scheduler.schedules.create(request("* * * * *", { catchUp: CatchUpPolicy.CATCH_UP_POLICY_ALL }));
      const first = (await current(schedule.id)).nextFireAt ?? 0;
      // 150 ticks pass while down; the last is within the grace.
      await downtime(first - clock.now() + 149 * minute + 1);
      await eventually(async () => (await current(schedule.id)).nextFireAt === first + 150 * minute, "the catch-up firing");
      const ticks = (await firedTasks(schedule.id)).map((task) => task.scheduleTickMs);
      const missed = Array.from({ length: 149 }, (_, index) => first + index * minute);
      expect(ticks).toEqual([...missed.slice(-scheduleTiming.catchUpMax), first + 149 * minute]);
      // Enqueued oldest first.
      const bySeq = (await store.listTasks({ limit: 1000 })).tasks.reverse().map((task) => task.scheduleTickMs);
      expect(bySeq).toEqual(ticks);
    });

    it("an every-second schedule in a DST zone catches up after 30 days down without walking every missed tick", async () => {
      await open(T0);
      const { schedule } = await scheduler.schedules.create(request("* * * * * *", { timeZone: "Europe/Berlin", catchUp: CatchUpPolicy.CATCH_UP_POLICY_ALL }));
      const first = (await current(schedule.id)).nextFireAt ?? 0;
      const started = Date.now();
      // 2.6 million ticks pass while down (walking them would take croner about 15 minutes).
      await downtime(30 * 24 * 3600 * 1000);
      const now = clock.now();
      await eventually(async () => ((await current(schedule.id)).nextFireAt ?? 0) > now, "the catch-up firing");
      expect(Date.now() - started).toBeLessThan(10_000);
      const ticks = (await firedTasks(schedule.id)).map((task) => task.scheduleTickMs ?? 0);
      const cutoff = now - scheduleTiming.missedGraceMs;
      const missed = ticks.filter((tick) => tick < cutoff);
      const onTime = ticks.filter((tick) => tick >= cutoff);
      // The latest 100 missed seconds, then every second of the grace up to now.
      expect(missed).toEqual(Array.from({ length: scheduleTiming.catchUpMax }, (_, index) => Math.ceil(cutoff / 1000) * 1000 - (scheduleTiming.catchUpMax - index) * 1000));
      expect(onTime).toEqual(Array.from({ length: onTime.length }, (_, index) => Math.ceil(cutoff / 1000) * 1000 + index * 1000));
      expect(onTime.at(-1)).toBe(Math.floor(now / 1000) * 1000);
      expect(first).toBeLessThan(missed[0] ?? 0);
      expect(await current(schedule.id)).toMatchObject({ lastTickMs: Math.floor(now / 1000) * 1000, nextFireAt: Math.floor(now / 1000) * 1000 + 1000 });
    });

    it("a paused schedule fires nothing; resumed, it fires at the next tick and none of those it slept through", async () => {
      await open(T0);
      const { schedule } = await scheduler.schedules.create(request("* * * * *"));
      const first = await toNextTick(schedule.id);
      const paused = await scheduler.schedules.update({ schedule: schedule.id, task: undefined, overlap: 0, catchUp: 0, paused: true });
      expect(paused).toMatchObject({ paused: true, nextFireAt: null });
      clock.advance(5 * minute);
      for (let index = 0; index < 50; index++) await turn();
      expect(await firedTasks(schedule.id)).toHaveLength(1);
      const resumed = await scheduler.schedules.update({ schedule: schedule.id, task: undefined, overlap: 0, catchUp: 0, paused: false });
      const next = first + 6 * minute;
      expect(resumed).toMatchObject({ paused: false, nextFireAt: next });
      expect(await toNextTick(schedule.id)).toBe(next);
      expect((await firedTasks(schedule.id)).map((task) => task.scheduleTickMs)).toEqual([first, next]);
    });

    it("a schedule created paused fires nothing until resumed; a deleted schedule fires no more", async () => {
      await open(T0);
      const { schedule } = await scheduler.schedules.create(request("* * * * *", { paused: true, key: "later" }));
      expect(schedule).toMatchObject({ paused: true, nextFireAt: null });
      clock.advance(3 * minute);
      for (let index = 0; index < 50; index++) await turn();
      expect(await firedTasks(schedule.id)).toEqual([]);
      await scheduler.schedules.update({ schedule: "later", task: undefined, overlap: 0, catchUp: 0, paused: false });
      await toNextTick(schedule.id);
      expect(await firedTasks(schedule.id)).toHaveLength(1);
      await scheduler.schedules.delete("later");
      clock.advance(3 * minute);
      for (let index = 0; index < 50; index++) await turn();
      expect(await firedTasks(schedule.id)).toHaveLength(1);
      expect(await store.listSchedules()).toEqual([]);
    });
  });
}
