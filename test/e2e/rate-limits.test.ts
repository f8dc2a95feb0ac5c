// Rate limits as real processes, on each store: set, list and clear through the SDK and the CLI;
// a handler whose upstream says slow down (ctx.rateLimited) deferred without using a retry, its name
// held back meanwhile; and a limit of 5 starts per second holding 15 tasks on a 10-slot worker to at
// most 5 starts in each second window. Times are read through the API, and the tests wait on tasks'
// ends, not on sleeps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OrchestratorClient, TaskUpdate } from "../../packages/client/src/index.js";
import { runCli } from "../helpers/cli.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("rate limits (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 1, workerArgs: ["--slots", "10"] });
  let client: OrchestratorClient;
  let gateway: string[] = [];

  beforeAll(async () => {
    await cluster.start();
    client = cluster.client;
    gateway = ["--gateway", cluster.gatewayAddress];
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("the SDK sets, lists, replaces and clears a limit (the README's example)", async () => {
    const before = Date.now();
    // As in README.md, "Rate limits".
    const limit = await client.setRateLimit("send-email", { maxStarts: 100, perMs: 60_000 });
    expect(limit).toMatchObject({ name: "send-email", maxStarts: 100, perMs: 60_000 });
    expect(limit.updatedAt).toBeInstanceOf(Date);
    expect(limit.updatedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(limit.updatedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
    await client.setRateLimit("import-rows", { maxStarts: 5, perMs: 1_000 });
    expect((await client.listRateLimits()).map(({ name, maxStarts, perMs }) => ({ name, maxStarts, perMs }))).toEqual([
      { name: "import-rows", maxStarts: 5, perMs: 1_000 },
      { name: "send-email", maxStarts: 100, perMs: 60_000 },
    ]);

    const replaced = await client.setRateLimit("send-email", { maxStarts: 10, perMs: 1_000 });
    expect(replaced).toMatchObject({ name: "send-email", maxStarts: 10, perMs: 1_000 });
    expect(replaced.updatedAt.getTime()).toBeGreaterThanOrEqual(limit.updatedAt.getTime());

    const cleared = await client.clearRateLimit("send-email");
    expect(cleared).toMatchObject({ cleared: true, limit: { name: "send-email", maxStarts: 10, perMs: 1_000 } });
    expect(await client.clearRateLimit("send-email")).toEqual({ cleared: false, limit: null });
    expect((await client.clearRateLimit("import-rows")).cleared).toBe(true);
    expect(await client.listRateLimits()).toEqual([]);

    await expect(client.setRateLimit("send-email", { maxStarts: 0, perMs: 1_000 })).rejects.toThrow(/max_starts must be between 1 and 1000000/);
    await expect(client.setRateLimit("send-email", { maxStarts: 1, perMs: 999 })).rejects.toThrow(/per_ms must be between 1000 and 86400000/);
    expect(await client.listRateLimits()).toEqual([]);
  });

  it("the CLI sets, lists and clears a limit, for people and as JSON", async () => {
    const none = await runCli(["rate-limit", "list", ...gateway]);
    expect(none).toMatchObject({ code: 0, stdout: "", stderr: "no rate limits are set\n" });

    // The README's commands, as written there.
    const set = await runCli(["rate-limit", "set", "send-email", "--max", "100", "--per", "60s", ...gateway]);
    expect(set, set.stderr).toMatchObject({ code: 0, stdout: "rate limit of send-email: at most 100 starts per 1m; tasks over it wait, queued\n" });
    const json = await runCli(["rate-limit", "set", "cli-other", "--max", "1", "--per", "1500", "--per-key", "--json", ...gateway]);
    expect(json.code, json.stderr).toBe(0);
    const view = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({ name: "cli-other", max_starts: 1, per_ms: 1_500, per_key: true });
    expect(Date.parse(String(view.updated_at))).toBeGreaterThan(0);

    const listed = await runCli(["rate-limit", "list", ...gateway]);
    expect(listed.code, listed.stderr).toBe(0);
    const [header = "", ...rows] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+MAX STARTS\s+PER\s+WINDOW OF\s+UPDATED AT$/);
    expect(rows.map((row) => row.split(/\s+/).slice(0, 4))).toEqual([["cli-other", "1", "1500ms", "key"], ["send-email", "100", "1m", "name"]]);
    const listedJson = JSON.parse((await runCli(["rate-limit", "list", "--json", ...gateway])).stdout) as Array<Record<string, unknown>>;
    expect(listedJson.map(({ name, max_starts, per_ms, per_key }) => ({ name, max_starts, per_ms, per_key }))).toEqual([
      { name: "cli-other", max_starts: 1, per_ms: 1_500, per_key: true },
      { name: "send-email", max_starts: 100, per_ms: 60_000, per_key: false },
    ]);
    expect(listedJson[0]?.updated_at).toBe(view.updated_at);

    const cleared = await runCli(["rate-limit", "clear", "send-email", ...gateway]);
    expect(cleared, cleared.stderr).toMatchObject({ code: 0, stdout: "cleared the rate limit of send-email (was at most 100 starts per 1m)\n" });
    const again = await runCli(["rate-limit", "clear", "send-email", ...gateway]);
    expect(again).toMatchObject({ code: 0, stdout: "send-email had no rate limit: nothing to clear\n" });
    expect(JSON.parse((await runCli(["rate-limit", "clear", "cli-other", "--json", ...gateway])).stdout)).toEqual({ name: "cli-other", cleared: true, max_starts: 1, per_ms: 1_500, per_key: true });
    expect(JSON.parse((await runCli(["rate-limit", "list", "--json", ...gateway])).stdout)).toEqual([]);

    const badMax = await runCli(["rate-limit", "set", "cli-limited", "--max", "0", "--per", "1s", ...gateway]);
    expect(badMax.code).not.toBe(0);
    expect(badMax.stderr).toMatch(/^error \(InvalidArgument\): max_starts must be between 1 and 1000000/);
    const badPer = await runCli(["rate-limit", "set", "cli-limited", "--max", "5", "--per", "2d", ...gateway]);
    expect(badPer.code).not.toBe(0);
    expect(badPer.stderr).toMatch(/^error \(InvalidArgument\): per_ms must be between 1000 and 86400000 ms/);
    const badName = await runCli(["rate-limit", "clear", "has space", ...gateway]);
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toMatch(/^error \(InvalidArgument\): name "has space" may only contain/);
    const notDuration = await runCli(["rate-limit", "set", "cli-limited", "--max", "5", "--per", "soon", ...gateway]);
    expect(notDuration.code).not.toBe(0);
    expect(notDuration.stderr).toMatch(/expected a duration such as/);
    expect(JSON.parse((await runCli(["rate-limit", "list", "--json", ...gateway])).stdout)).toEqual([]);
  });

  it("a handler that throws ctx.rateLimited(300) is deferred without using a retry, and its name is held back as long", async () => {
    const { taskId } = await client.submit({ name: "rate-limited", payload: { ms: 300, times: 1 }, maxRetries: 0 });
    const updates: TaskUpdate[] = [];
    let other: Promise<{ taskId: string }> | undefined;
    const terminal = await client.waitForResult(taskId, {
      onUpdate: (update) => {
        updates.push(update);
        // Submitted while the name is held back: it must not start before the deferred task may.
        if (update.state === "retrying") other = client.submit({ name: "rate-limited", payload: { times: 0 } });
      },
    });
    expect(terminal.state, terminal.error ?? "").toBe("succeeded");
    expect(JSON.parse(Buffer.from(terminal.result ?? []).toString())).toEqual({ attempt: 2 });
    expect(updates.map((update) => [update.state, update.attempt])).toEqual([
      ["queued", 0], ["running", 1], ["retrying", 1], ["running", 2], ["succeeded", 2],
    ]);
    const deferral = updates[2] as TaskUpdate;
    expect(deferral.message).toMatch(/^attempt 1 rate limited by its upstream; next attempt in 0\.3s$/);
    expect(deferral.error).toBeNull();
    expect(deferral.nextAttemptAt?.getTime()).toBe(deferral.timestamp.getTime() + 300);

    const task = await client.get(taskId);
    expect(task).toMatchObject({ state: "succeeded", attempt: 2, maxRetries: 0 });
    expect(task.startedAt?.getTime()).toBeGreaterThanOrEqual(deferral.timestamp.getTime() + 300);

    const { taskId: otherId } = await (other ?? Promise.reject(new Error("no retrying update was seen")));
    expect((await client.waitForResult(otherId)).state).toBe("succeeded");
    const held = await client.get(otherId);
    expect(held.attempt).toBe(1);
    expect(held.startedAt?.getTime()).toBeGreaterThanOrEqual(deferral.timestamp.getTime() + 300);
  });

  it("a limit of 5 per second starts 15 tasks on a 10-slot worker at most 5 in each second, all within about 4 s", async () => {
    await client.setRateLimit("paced", { maxStarts: 5, perMs: 1_000 });
    try {
      const submittedAt = Date.now();
      const tasks = await client.submitMany(Array.from({ length: 15 }, (_, index) => ({ name: "paced", payload: { index } })));
      const ends = await Promise.all(tasks.map(({ taskId }) => client.waitForResult(taskId)));
      const elapsedMs = Date.now() - submittedAt;
      expect(ends.map((end) => end.state)).toEqual(Array(15).fill("succeeded"));
      expect(elapsedMs).toBeLessThan(4_500);

      const started = await Promise.all(tasks.map(async ({ taskId }) => (await client.get(taskId)).startedAt?.getTime() ?? 0));
      const perWindow = new Map<number, number>();
      for (const at of started) perWindow.set(Math.floor(at / 1000), (perWindow.get(Math.floor(at / 1000)) ?? 0) + 1);
      const counts = [...perWindow.entries()].sort(([a], [b]) => a - b);
      for (const [window, count] of counts) expect(count, `starts in second ${window}: ${JSON.stringify(counts)}`).toBeLessThanOrEqual(5);
      // 15 starts at 5 per window take at least three windows.
      expect(counts.length).toBeGreaterThanOrEqual(3);
    } finally {
      await client.clearRateLimit("paced");
    }
  });
});
