// Cron schedules as real processes: the SDK's and the CLI's schedule calls through a Gateway, and
// exactly-once firing with two Schedulers on one PostgreSQL while the maintenance leader is killed
// with SIGKILL: over the ticks of an every-second schedule each tick has exactly one task (none
// lost, none doubled), counted through the API, and each ran once (the workers' journal).
import { afterEach, describe, expect, it } from "vitest";
import type { OrchestratorClient, TaskInfo } from "../../packages/client/src/index.js";
import { runCli } from "../helpers/cli.js";
import { createTestStore } from "../helpers/stores.js";
import { ScaleOutRig, until } from "../helpers/scale-out.js";

async function scheduleTasks(client: OrchestratorClient, scheduleId: string): Promise<TaskInfo[]> {
  const tasks: TaskInfo[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.list({ pageSize: 1000, pageToken });
    tasks.push(...page.tasks.filter((task) => task.scheduleId === scheduleId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return tasks;
}

describe("cron schedules end to end", () => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it("the SDK and the CLI create, list, get, pause, resume and delete schedules; a seconds schedule fires journaled tasks", async () => {
    rig = new ScaleOutRig(await createTestStore("sqlite"));
    const scheduler = await rig.scheduler();
    const { client } = await rig.gateway([scheduler.address]);
    const address = client.address;
    await rig.worker([scheduler.address]);

    const cli = (...args: string[]) => runCli(["schedule", ...args, "--gateway", address]);
    const created = await cli("create", "nightly", "--cron", "*/5 * * * *", "--tz", "Europe/Berlin", "--task", "data-processing-job", "--payload", "{\"n\":1}", "--overlap", "skip", "--catch-up", "all");
    expect(created.stderr).toBe("");
    expect(created.stdout).toMatch(/^created: nightly, next tick \d{4}-\d\d-\d\dT/);
    const again = await cli("create", "nightly", "--cron", "*/5 * * * *", "--tz", "Europe/Berlin", "--task", "data-processing-job", "--payload", "{\"n\":1}", "--overlap", "skip", "--catch-up", "all");
    expect(again.stdout).toMatch(/^exists, unchanged: nightly/);
    const changed = await cli("create", "nightly", "--cron", "*/10 * * * *", "--tz", "Europe/Berlin", "--task", "data-processing-job");
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/^error \(AlreadyExists\): schedule key "nightly" already belongs to schedule /);
    const badZone = await cli("create", "x", "--cron", "* * * * *", "--tz", "Mars/Base", "--task", "t");
    expect(badZone.stderr).toMatch(/^error \(InvalidArgument\): time_zone "Mars\/Base" is not a known IANA time zone/);
    const badPolicy = await cli("create", "x", "--cron", "* * * * *", "--task", "t", "--overlap", "never");
    expect(badPolicy.code).not.toBe(0);
    expect(badPolicy.stderr).toMatch(/--overlap <policy>' argument 'never' is invalid/);

    const got = JSON.parse((await cli("get", "nightly", "--json")).stdout) as Record<string, unknown>;
    expect(got).toMatchObject({ key: "nightly", cron: "*/5 * * * *", time_zone: "Europe/Berlin", task: "data-processing-job", overlap: "skip", catch_up: "all", paused: false });
    expect((await cli("list")).stdout).toMatch(/^KEY\s+SCHEDULE ID\s+CRON[\s\S]*\nnightly\s+\S+\s+\*\/5 \* \* \* \*\s+Europe\/Berlin\s+data-processing-job\s+active/);
    expect((await cli("pause", "nightly")).stdout).toMatch(/state\s+paused\nnext\s+-/);
    expect((await client.schedules.get("nightly")).paused).toBe(true);
    expect((await cli("resume", "nightly")).stdout).toMatch(/state\s+active/);
    expect((await cli("delete", "nightly")).stdout).toBe("deleted schedule nightly\n");
    expect((await cli("get", "nightly")).stderr).toMatch(/^error \(NotFound\): schedule nightly does not exist/);

    // The SDK: every second, journaled tasks; update, pause, resume, delete.
    const schedule = await client.schedules.create({ key: "every-second", cron: "* * * * * *", task: { name: "journaled", payload: { ms: 0 } }, overlap: "allow", catchUp: "skip" });
    expect(schedule).toMatchObject({ created: true, key: "every-second", timeZone: "UTC", overlap: "allow", catchUp: "skip", paused: false });
    expect((await client.schedules.create({ key: "every-second", cron: "* * * * * *", task: { name: "journaled", payload: { ms: 0 } }, catchUp: "skip" })).created).toBe(false);
    await until(() => rig.entries().filter((entry) => entry.kind === "done").length >= 2, 10_000, "two ticks to run");
    const paused = await client.schedules.pause("every-second");
    expect(paused).toMatchObject({ paused: true, nextFireAt: null });
    const fired = await scheduleTasks(client, schedule.scheduleId);
    expect(fired.length).toBeGreaterThanOrEqual(2);
    for (const task of fired) {
      expect(task.name).toBe("journaled");
      expect(task.scheduleTick?.getTime() ?? 0).toBe(Math.floor((task.scheduleTick?.getTime() ?? 1) / 1000) * 1000);
    }
    const updated = await client.schedules.update("every-second", { cron: "*/2 * * * * *", timeZone: "Europe/Berlin" });
    expect(updated).toMatchObject({ cron: "*/2 * * * * *", timeZone: "Europe/Berlin", paused: true });
    expect((await client.schedules.resume("every-second")).nextFireAt).toBeInstanceOf(Date);
    expect((await client.schedules.list()).map((s) => s.key)).toEqual(["every-second"]);
    await client.schedules.delete(schedule.scheduleId);
    expect(await client.schedules.list()).toEqual([]);
    await expect(client.schedules.create({ cron: "* * * * *", task: { name: "t" }, overlap: "sometimes" as "allow" })).rejects.toThrow(/overlap "sometimes" is not an overlap policy/);
  });

  it("two Schedulers on PostgreSQL, the leader killed with SIGKILL: each tick of an every-second schedule fires exactly once", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const leader = await rig.scheduler();
    await leader.process.waitForMessage(/leads maintenance/);
    const other = await rig.scheduler();
    // The Gateway knows both: the create reaches either, and both fire.
    const { client } = await rig.gateway([leader.address, other.address]);
    await rig.worker([other.address], ["--slots", "20"]);

    const schedule = await client.schedules.create({ key: "heartbeat", cron: "* * * * * *", task: { name: "journaled", payload: { ms: 0 } } });
    const done = (): number => rig.entries().filter((entry) => entry.kind === "done").length;
    await until(() => done() >= 4, 15_000, "four ticks to run with both Schedulers alive");
    await leader.process.stop("SIGKILL");
    const atKill = done();
    await until(() => done() >= atKill + 8, 20_000, "eight more ticks after the leader was killed");
    await until.retrying(() => client.schedules.pause("heartbeat"), 10_000, "the pause to reach the surviving Scheduler");

    const tasks = await scheduleTasks(client, schedule.scheduleId);
    const ticks = tasks.map((task) => task.scheduleTick?.getTime() ?? 0).sort((a, b) => a - b);
    expect(ticks.length).toBeGreaterThanOrEqual(12);
    // None doubled: one task per tick.
    expect(new Set(ticks).size).toBe(ticks.length);
    // None lost: every second from the first tick to the last.
    const first = ticks[0] ?? 0;
    expect(ticks).toEqual(ticks.map((_, index) => first + index * 1000));
    // Each ran once.
    await until(() => done() >= ticks.length, 10_000, "every fired task to run");
    const starts = rig.entries().filter((entry) => entry.kind === "start");
    for (const task of tasks) expect(starts.filter((entry) => entry.taskId === task.taskId), `starts of ${task.taskId}`).toHaveLength(1);
  });
});
