// The CLI's concurrency commands and submit's --concurrency-key/--concurrency-limit, as separate
// processes against a cluster on each store (no worker: the tasks stay queued as submitted).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";

describe.each(storeBackends)("orchestrator concurrency and submit --concurrency-key (%s store)", (store) => {
  const cluster = new Cluster({ store, workers: 0 });
  let gateway: string[] = [];

  beforeAll(async () => {
    await cluster.start();
    gateway = ["--gateway", cluster.gatewayAddress];
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("set, list and clear a name's limit, in text and JSON", async () => {
    const none = await runCli(["concurrency", "list", ...gateway]);
    expect(none).toMatchObject({ code: 0, stdout: "", stderr: "no concurrency limits are set\n" });

    const set = await runCli(["concurrency", "set", "data-processing-job", "2", ...gateway]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe("data-processing-job: at most 2 running at once per concurrency key\n");
    const setJson = await runCli(["concurrency", "set", "resize-image", "12", "--json", ...gateway]);
    expect(setJson.code, setJson.stderr).toBe(0);
    expect(JSON.parse(setJson.stdout)).toEqual({ name: "resize-image", max_running: 12, updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown });

    const table = await runCli(["concurrency", "list", ...gateway]);
    expect(table.code, table.stderr).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+MAX RUNNING\s+UPDATED AT$/);
    expect(rows.map((row) => row.split(/\s+/).slice(0, 2))).toEqual([["data-processing-job", "2"], ["resize-image", "12"]]);
    const listed = await runCli(["concurrency", "list", "--json", ...gateway]);
    expect((JSON.parse(listed.stdout) as { name: string; max_running: number }[]).map((limit) => [limit.name, limit.max_running])).toEqual([["data-processing-job", 2], ["resize-image", 12]]);

    const cleared = await runCli(["concurrency", "clear", "data-processing-job", ...gateway]);
    expect(cleared).toMatchObject({ code: 0, stdout: "cleared the bound of data-processing-job (was 2 per key)\n" });
    const again = await runCli(["concurrency", "clear", "data-processing-job", "--json", ...gateway]);
    expect(JSON.parse(again.stdout)).toEqual({ name: "data-processing-job", cleared: false });
    expect(JSON.parse((await runCli(["concurrency", "list", "--json", ...gateway])).stdout)).toMatchObject([{ name: "resize-image" }]);
  });

  it("refuses a bound of 0 with the server's message naming max_running, and stores nothing", async () => {
    const run = await runCli(["concurrency", "set", "unbounded-name", "0", ...gateway]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/max_running must be between 1 and 100000, got 0/);
    const listed = JSON.parse((await runCli(["concurrency", "list", "--json", ...gateway])).stdout) as { name: string }[];
    expect(listed.map((limit) => limit.name)).not.toContain("unbounded-name");
  });

  it("submit --concurrency-key/--concurrency-limit shows in get --json and get; a limit without a key is refused", async () => {
    // No worker: the tasks stay queued.
    const submitted = await runCli(["submit", "data-processing-job", "-p", "...", "--concurrency-key", "customer-7", "--concurrency-limit", "5", ...gateway]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const taskId = submitted.stdout.trim();
    const json = await runCli(["get", taskId, "--json", ...gateway]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ task_id: taskId, state: "queued", concurrency_key: "customer-7", concurrency_limit: 5 });
    const text = await runCli(["get", taskId, ...gateway]);
    expect(text.stdout).toMatch(/^concurrency key\s+customer-7$/m);
    expect(text.stdout).toMatch(/^concurrency limit\s+5 running at once for this key$/m);

    const keyOnly = (await runCli(["submit", "data-processing-job", "-p", "...", "--concurrency-key", "customer-42", ...gateway])).stdout.trim();
    const keyOnlyView = JSON.parse((await runCli(["get", keyOnly, "--json", ...gateway])).stdout) as Record<string, unknown>;
    expect(keyOnlyView).toMatchObject({ concurrency_key: "customer-42" });
    expect(keyOnlyView).not.toHaveProperty("concurrency_limit");
    const plain = (await runCli(["submit", "data-processing-job", ...gateway])).stdout.trim();
    expect(JSON.parse((await runCli(["get", plain, "--json", ...gateway])).stdout)).not.toHaveProperty("concurrency_key");

    const limitOnly = await runCli(["submit", "data-processing-job", "--concurrency-limit", "2", ...gateway]);
    expect(limitOnly.code).toBe(1);
    expect(limitOnly.stderr).toMatch(/--concurrency-limit bounds the tasks of one --concurrency-key: give the key too/);
  });
});
