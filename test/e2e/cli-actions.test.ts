// The CLI's operator actions (README "Operator actions"), as separate processes against a cluster
// on each store: retry of one task, and retry, cancel and delete by filter flags, which count first
// and refuse to go on without --yes when there is no terminal to ask on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("orchestrator retry, cancel and delete (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1 });
  let gateway: string[] = [];

  beforeAll(async () => {
    await cluster.start();
    gateway = ["--gateway", cluster.gatewayAddress];
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("retry <task-id> starts a new series of a failed task; a succeeded one is refused with what to do", async () => {
    const { taskId } = await cluster.client.submit({ name: "fails-first", maxRetries: 0 });
    const failed = await cluster.client.waitForResult(taskId);
    const retried = await runCli(["retry", taskId, "--reason", "upstream fixed", ...gateway]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toBe(`retried task ${taskId}: queued again after attempt 1, with 0 retries\n`);
    expect(await cluster.client.waitForResult(taskId, { afterSequence: failed.sequence })).toMatchObject({ state: "succeeded", attempt: 2 });
    const again = await runCli(["retry", taskId, ...gateway]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("succeeded; only a failed or cancelled task can be retried: submit a new task to run it again");
  });

  it("bulk retry counts, refuses without --yes off a terminal, and with --yes retries them all", async () => {
    const submitted = await cluster.client.submitMany(Array.from({ length: 3 }, () => ({ name: "fails-first", maxRetries: 0, payload: { times: 1 } })));
    const failed = await Promise.all(submitted.map((task) => cluster.client.waitForResult(task.taskId)));
    const asked = await runCli(["retry", "--name", "fails-first", "--state", "failed", "--since", "1h", ...gateway]);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toMatch(/retry 3 failed and cancelled tasks \(name fails-first, state failed, created since .*\): stdin is not a terminal, so there is no one to ask; pass --yes to go ahead/);
    const done = await runCli(["retry", "--name", "fails-first", "--state", "failed", "--since", "1h", "--yes", "--reason", "bulk", ...gateway]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe("retried 3 tasks\n");
    for (const [index, task] of submitted.entries()) {
      expect(await cluster.client.waitForResult(task.taskId, { afterSequence: failed[index]?.sequence ?? 0 })).toMatchObject({ state: "succeeded" });
    }
  });

  it("bulk cancel and delete by filter, in text and JSON; states an action cannot apply to, and no filter, are refused", async () => {
    const delayed = await cluster.client.submitMany(Array.from({ length: 2 }, () => ({ name: "sleepy", delayMs: 3_600_000 })));
    const cancelled = await runCli(["cancel", "--name", "sleepy", "--state", "scheduled", "--yes", "--json", ...gateway]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toEqual({ action: "cancel", matched: 2, count: 2 });
    for (const task of delayed) expect((await cluster.client.get(task.taskId)).state).toBe("cancelled");

    const nothingOld = await runCli(["delete", "--state", "succeeded", "--before", "7d", "--yes", ...gateway]);
    expect(nothingOld).toMatchObject({ code: 0, stdout: "" });
    expect(nothingOld.stderr).toMatch(/^no finished tasks \(succeeded, failed, cancelled\) match \(state succeeded, created before .*\): nothing to do\n$/);
    const deleted = await runCli(["delete", "--name", "sleepy", "--state", "cancelled", "--yes", ...gateway]);
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted 2 tasks\n" });
    expect(await cluster.client.countTasks({ names: ["sleepy"] })).toBe(0);

    const running = await runCli(["delete", "--state", "running", "--yes", ...gateway]);
    expect(running.code).toBe(1);
    expect(running.stderr).toContain("delete applies to finished tasks (succeeded, failed, cancelled) only; --state running cannot be deleted");
    const none = await runCli(["delete", "--yes", ...gateway]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("delete needs at least one of --name, --state, --concurrency-key, --schedule, --since, --before");
    const both = await runCli(["cancel", delayed[0]?.taskId ?? "", "--name", "sleepy", ...gateway]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("give a task id or filter flags (--name, --state, ...), not both");
  });
});
