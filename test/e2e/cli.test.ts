import { createHash, randomUUID } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SchedulerClient } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { callUnary } from "../helpers/grpc.js";
import { cliStderrUntil, runCli, type CliRun } from "../helpers/cli.js";
import { Cluster, freePort, startService, tempDir, type ServiceProcess } from "../helpers/processes.js";

const uuidLine = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `submit --wait` output: the task id on the first line, then how the task ended ("succeeded on
 * attempt 1"), then its result, decoded: "result (JSON):" and the value pretty-printed.
 */
function parseSubmitted(stdout: string): { taskId: string; outcome: string; result: unknown } {
  const [taskId = "", outcome = "", resultHeader, ...rest] = stdout.trimEnd().split("\n");
  expect(taskId).toMatch(uuidLine);
  if (resultHeader === undefined) return { taskId, outcome, result: undefined };
  expect(resultHeader).toBe("result (JSON):");
  return { taskId, outcome, result: JSON.parse(rest.join("\n")) };
}

/** The start offset of each column of a table row, as the header places them. */
function columnStarts(header: string, titles: string[]): number[] {
  return titles.map((title) => header.indexOf(title));
}

let cluster: Cluster;
let gateway: string[] = [];
let deadAddress = "";
const data = tempDir("orchestrator-cli-test-");

beforeAll(async () => {
  cluster = await new Cluster({ workers: 1 }).start();
  gateway = ["--gateway", cluster.gatewayAddress];
  deadAddress = `127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  await cluster?.stop();
  data.remove();
});

describe("client commands against a cluster", () => {
  /** Tasks of data-processing-job the tests submitted, oldest first. */
  const processed: string[] = [];

  it("submit --payload --wait follows the task and prints its result decoded", async () => {
    const run = await runCli(["submit", "data-processing-job", "--payload", "hello world", "--wait", ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const { taskId, outcome, result } = parseSubmitted(run.stdout);
    processed.push(taskId);
    expect(outcome).toBe("succeeded on attempt 1");
    expect(result).toMatchObject({ words: 2, uppercase: "HELLO WORLD" });
    // Pretty-printed, not a string holding JSON.
    expect(run.stdout).toContain('\n  "uppercase": "HELLO WORLD"');
    expect((result as { top_words: unknown }).top_words).toEqual(expect.arrayContaining([{ word: "hello", count: 1 }, { word: "world", count: 1 }]));
    // Without a terminal, progress goes to stderr one line per update.
    expect(run.stderr).toMatch(/running .*parsing payload/);
    expect(run.stderr).toMatch(/succeeded attempt=1 100%/);
  });

  it("submit --payload-file sends the file's bytes", async () => {
    const content = "alpha beta beta\ngamma";
    const file = join(data.path, "payload.txt");
    writeFileSync(file, content);
    const run = await runCli(["submit", "data-processing-job", "--payload-file", file, "--wait", ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const { taskId, outcome, result } = parseSubmitted(run.stdout);
    processed.push(taskId);
    expect(outcome).toBe("succeeded on attempt 1");
    expect(result).toMatchObject({
      bytes: Buffer.byteLength(content), lines: 2, words: 4, top_words: [{ word: "beta", count: 2 }, { word: "alpha", count: 1 }, { word: "gamma", count: 1 }],
      sha256: createHash("sha256").update(content).digest("hex"),
    });
  });

  it("get --json prints the task as JSON, its result embedded as JSON", async () => {
    const [taskId] = processed;
    const run = await runCli(["get", String(taskId), "--json", ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const view = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({ task_id: taskId, name: "data-processing-job", state: "succeeded", attempt: 1, percent: 100, result_encoding: "json" });
    expect(view.result).toMatchObject({ words: 2, uppercase: "HELLO WORLD" });
    expect(view.worker_id).toEqual(expect.any(String));
  });

  it("get prints the task for people: its fields, then its result decoded", async () => {
    const [taskId] = processed;
    const run = await runCli(["get", String(taskId), ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const [fields = "", result = ""] = run.stdout.split("result (JSON):\n");
    expect(fields).toMatch(new RegExp(`^task id +${taskId}\n`));
    expect(fields).toMatch(/^state +succeeded$/m);
    expect(fields).toMatch(/^attempt +1 of at most 4$/m);
    expect(JSON.parse(result)).toMatchObject({ words: 2 });
  });

  it("get of a succeeded task shows no stale progress message; of a cancelled one, labelled as the last", async () => {
    const [taskId] = processed;
    // The handler's last report was "computed checksum" at 90%: nothing the task is doing now.
    const human = await runCli(["get", String(taskId), ...gateway]);
    expect(human.stdout).not.toMatch(/progress|computed checksum/);
    const json = JSON.parse((await runCli(["get", String(taskId), "--json", ...gateway])).stdout) as Record<string, unknown>;
    expect(json).not.toHaveProperty("message");
    expect(json).not.toHaveProperty("last_progress_message");

    // A task cancelled while it ran: how far it got is worth keeping, under a name that says it is history.
    const { taskId: cancelledId } = await cluster.client.submit({ name: "wait-for-abort" });
    for await (const update of cluster.client.subscribe(cancelledId)) if (update.message === "waiting to be aborted") break;
    await cluster.client.cancel(cancelledId, "enough");
    await cluster.client.waitForResult(cancelledId);
    const cancelledJson = JSON.parse((await runCli(["get", cancelledId, "--json", ...gateway])).stdout) as Record<string, unknown>;
    expect(cancelledJson).toMatchObject({ state: "cancelled", error: "enough", last_progress_message: "waiting to be aborted" });
    expect(cancelledJson).not.toHaveProperty("message");
    expect((await runCli(["get", cancelledId, ...gateway])).stdout).toMatch(/^last progress +waiting to be aborted$/m);
  });

  it("watch replays a finished task's updates", async () => {
    const [taskId] = processed;
    const run = await runCli(["watch", String(taskId), "--json", ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const updates = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as { sequence: number; state: string });
    expect(updates.map((update) => update.sequence)).toEqual(updates.map((_, index) => index + 1));
    expect(updates[0]?.state).toBe("queued");
    expect(updates.at(-1)).toMatchObject({ state: "succeeded", result_encoding: "json", result: expect.objectContaining({ words: 2 }) as unknown });

    const human = await runCli(["watch", String(taskId), ...gateway]);
    expect(human.code, human.stderr).toBe(0);
    const [lines = "", result = ""] = human.stdout.split("result (JSON):\n");
    expect(lines.trimEnd().split("\n").at(-1)).toMatch(/^#\d+ succeeded attempt=1 100% succeeded$/);
    expect(JSON.parse(result)).toMatchObject({ words: 2 });
  });

  it("submit --wait says what a text and a binary result are", async () => {
    const text = await runCli(["submit", "echo", "--payload", "plain words", "--wait", ...gateway]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split("\n").slice(1).join("\n")).toBe("succeeded on attempt 1\nresult (text, 11 bytes):\nplain words\n");
    const file = join(data.path, "binary.bin");
    writeFileSync(file, Buffer.from([0, 1, 0xff]));
    const binary = await runCli(["submit", "echo", "--payload-file", file, "--wait", ...gateway]);
    expect(binary.code, binary.stderr).toBe(0);
    expect(binary.stdout.split("\n").slice(1).join("\n")).toBe("succeeded on attempt 1\nresult (binary, 3 bytes, shown as base64):\nAAH/\n");
  });

  it("submit --wait --json prints JSON lines, the result embedded as JSON", async () => {
    const run = await runCli(["submit", "echo", "--payload", '{"a": [1, 2]}', "--wait", "--json", ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toEqual({ task_id: expect.stringMatching(uuidLine) as unknown, timestamp: expect.any(String) as unknown });
    expect(lines.at(-1)).toMatchObject({ state: "succeeded", result: { a: [1, 2] }, result_encoding: "json" });
  });

  it("list filters by state and name, and pages", async () => {
    expect(processed).toHaveLength(2);
    const [older, newer] = processed as [string, string];
    const all = await runCli(["list", "--state", "succeeded", "--name", "data-processing-job", ...gateway]);
    expect(all.code, all.stderr).toBe(0);
    const [header = "", ...rows] = all.stdout.trim().split("\n");
    expect(header).toMatch(/^TASK ID +STATE +ATTEMPT +NAME +CREATED$/);
    expect(rows).toHaveLength(2);
    // Each column starts where its title does.
    const starts = columnStarts(header, ["STATE", "ATTEMPT", "NAME", "CREATED"]);
    for (const row of rows) expect(starts.map((start) => row[start - 1] === " " && row[start] !== " ")).toEqual([true, true, true, true]);
    expect(rows[0]).toMatch(new RegExp(`^${newer}\\s+succeeded\\s+1\\s+data-processing-job\\s`));
    expect(rows[1]).toMatch(new RegExp(`^${older}\\s+succeeded\\s+1\\s+data-processing-job\\s`));
    expect(all.stdout).not.toContain("next page");

    const first = await runCli(["list", "--state", "succeeded", "--name", "data-processing-job", "--page-size", "1", ...gateway]);
    expect(first.code, first.stderr).toBe(0);
    const [, row, next, ...rest] = first.stdout.trim().split("\n");
    expect(rest).toEqual([]);
    expect(row).toMatch(new RegExp(`^${newer}\\s`));
    const token = /^next page: --page-token (\S+)$/.exec(String(next))?.[1];
    expect(token).toBeTruthy();

    const second = await runCli(["list", "--state", "succeeded", "--name", "data-processing-job", "--page-size", "1", "--page-token", String(token), ...gateway]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim().split("\n").slice(1)).toEqual([expect.stringMatching(new RegExp(`^${older}\\s`))]);

    // Nothing matching: stdout stays empty (for scripts), and stderr says so.
    const none = await runCli(["list", "--state", "failed", "--name", "data-processing-job", ...gateway]);
    expect(none).toMatchObject({ code: 0, stdout: "", stderr: "no tasks match\n" });
  });

  it("submit --delay and --run-at schedule the task, --priority sets its priority; get and list show them", async () => {
    const before = Date.now();
    const delayed = await runCli(["submit", "nobody-serves-this", "--delay", "2h", "--priority", "7", ...gateway]);
    expect(delayed.code, delayed.stderr).toBe(0);
    const delayedId = delayed.stdout.trim();
    const view = JSON.parse((await runCli(["get", delayedId, "--json", ...gateway])).stdout) as Record<string, unknown>;
    expect(view).toMatchObject({ task_id: delayedId, state: "scheduled", priority: 7 });
    expect(Date.parse(String(view.run_at)) - before).toBeGreaterThanOrEqual(2 * 3600 * 1000);
    expect(view.next_attempt_at).toBe(view.run_at);

    // Two years ahead, written with an offset: refused by the Scheduler, naming the field and the time in UTC.
    const far = new Date(before + 2 * 365 * 24 * 3600 * 1000);
    const farWithOffset = `${new Date(far.getTime() + 3600 * 1000).toISOString().slice(0, 19)}+01:00`;
    const at = await runCli(["submit", "nobody-serves-this", "--run-at", farWithOffset, ...gateway]);
    expect(at.code).not.toBe(0);
    expect(at.stderr).toContain(`run_at_ms ${far.toISOString().slice(0, 19)}.000Z is more than one year ahead`);
    const soon = new Date(before + 3600 * 1000).toISOString();
    const atSoon = await runCli(["submit", "nobody-serves-this", "--run-at", soon, ...gateway]);
    expect(atSoon.code, atSoon.stderr).toBe(0);
    const text = (await runCli(["get", atSoon.stdout.trim(), ...gateway])).stdout;
    expect(text).toMatch(/^state +scheduled$/m);
    expect(text).toMatch(new RegExp(`^run at +${soon.replace(/\./g, "\\.")}$`, "m"));

    const listed = await runCli(["list", "--state", "scheduled", ...gateway]);
    expect(listed.stdout).toContain(delayedId);

    const both = await runCli(["submit", "nobody-serves-this", "--delay", "1m", "--run-at", soon, ...gateway]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/give --delay or --run-at, not both/);
    const noZone = await runCli(["submit", "nobody-serves-this", "--run-at", "2026-07-01T09:00:00", ...gateway]);
    expect(noZone.code).not.toBe(0);
    expect(noZone.stderr).toMatch(/expected an ISO 8601 time with a zone/);
    await runCli(["cancel", delayedId, ...gateway]);
    await runCli(["cancel", atSoon.stdout.trim(), ...gateway]);
  });

  it("pause, paused and resume: a paused name's submit waits queued, and runs after the resume", async () => {
    const none = await runCli(["paused", ...gateway]);
    expect(none).toMatchObject({ code: 0, stdout: "", stderr: "no queues are paused\n" });
    const paused = await runCli(["pause", "echo", "--reason", "deploying v2", ...gateway]);
    expect(paused, paused.stderr).toMatchObject({ code: 0, stdout: "paused queue echo: its tasks wait until `orchestrator resume echo`\n" });
    const again = await runCli(["pause", "echo", "--reason", "other", "--json", ...gateway]);
    expect(again.code, again.stderr).toBe(0);
    const view = JSON.parse(again.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({ name: "echo", reason: "deploying v2", was_paused: true });
    const human = await runCli(["pause", "echo", ...gateway]);
    expect(human.stdout).toBe(`queue echo was already paused (since ${String(view.paused_at)}); nothing changed\n`);

    const listed = await runCli(["paused", ...gateway]);
    const [header = "", row = "", ...more] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+PAUSED AT\s+REASON$/);
    expect(row).toBe(`echo  ${String(view.paused_at)}  deploying v2`);
    expect(more).toEqual([]);
    expect(JSON.parse((await runCli(["paused", "--json", ...gateway])).stdout)).toEqual([{ name: "echo", reason: "deploying v2", paused_at: view.paused_at }]);

    const submitted = await runCli(["submit", "echo", "--payload", "held", ...gateway]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const taskId = submitted.stdout.trim();
    expect(JSON.parse((await runCli(["get", taskId, "--json", ...gateway])).stdout)).toMatchObject({ state: "queued" });

    const resumed = await runCli(["resume", "echo", ...gateway]);
    expect(resumed, resumed.stderr).toMatchObject({ code: 0, stdout: `resumed queue echo (paused since ${String(view.paused_at)})\n` });
    const watched = await runCli(["watch", taskId, "--json", ...gateway]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { state: string }).state).at(-1)).toBe("succeeded");
    const notPaused = await runCli(["resume", "echo", ...gateway]);
    expect(notPaused).toMatchObject({ code: 0, stdout: "queue echo was not paused: nothing to resume\n" });
    expect(JSON.parse((await runCli(["resume", "echo", "--json", ...gateway])).stdout)).toEqual({ name: "echo", was_paused: false });
    const bad = await runCli(["pause", "has space", ...gateway]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^error \(InvalidArgument\): name "has space" may only contain/);
  });

  it("cancel cancels a queued task, once", async () => {
    const submitted = await runCli(["submit", "nobody-serves-this", "--payload", "never runs", ...gateway]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const taskId = submitted.stdout.trim();
    expect(taskId).toMatch(uuidLine);

    const queued = JSON.parse((await runCli(["get", taskId, "--json", ...gateway])).stdout) as Record<string, unknown>;
    expect(queued).toMatchObject({ task_id: taskId, state: "queued", attempt: 0 });

    const cancel = await runCli(["cancel", taskId, "--reason", "no longer needed", "--json", ...gateway]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout)).toEqual({ task_id: taskId, state: "cancelled", cancelled: true });

    const after = JSON.parse((await runCli(["get", taskId, "--json", ...gateway])).stdout) as Record<string, unknown>;
    expect(after).toMatchObject({ state: "cancelled", error: "no longer needed" });

    const again = await runCli(["cancel", taskId, "--json", ...gateway]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ task_id: taskId, state: "cancelled", cancelled: false });
    const human = await runCli(["cancel", taskId, ...gateway]);
    expect(human).toMatchObject({ code: 0, stdout: `task ${taskId} had already ended (cancelled): nothing to cancel\n` });
  });

  it("workers lists the connected worker", async () => {
    const registered = await cluster.workers[0]?.waitForMessage("Worker registered with the scheduler");
    const workerId = String(registered?.worker_id);
    expect(workerId).not.toBe("undefined");

    const run = await runCli(["workers", ...gateway]);
    expect(run.code, run.stderr).toBe(0);
    const [header = "", ...rows] = run.stdout.trim().split("\n");
    expect(header).toMatch(/^WORKER ID +RUNNING\/SLOTS +STATE +TASK NAMES$/);
    expect(rows).toHaveLength(1);
    const starts = columnStarts(header, ["RUNNING/SLOTS", "STATE", "TASK NAMES"]);
    expect(starts.map((start) => rows[0]?.[start - 1] === " " && rows[0]?.[start] !== " ")).toEqual([true, true, true]);
    const [id, load, state, names] = String(rows[0]).split(/\s+/);
    expect({ id, load, state }).toEqual({ id: workerId, load: "0/10", state: "ready" });
    expect(String(names).split(",")).toEqual(expect.arrayContaining(["data-processing-job", "echo", "whoami"]));

    const json = await runCli(["workers", "--json", ...gateway]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ worker_id: workerId, slots: 10, running: 0, prefetch: 0, held: 0, draining: false })]);
  });

  it("submit --wait exits 1 when the task ends failed", async () => {
    const run = await runCli(["submit", "flaky", "--payload", '{"retryable": false}', "--max-retries", "0", "--wait", ...gateway]);
    expect(run.code, run.stderr).toBe(1);
    expect(parseSubmitted(run.stdout).outcome).toBe("failed on attempt 1: attempt 1 failed on purpose");
  });

  it("submit --wait says, after a few seconds queued, that no connected worker serves the name, and keeps waiting", async () => {
    const { stderr, ms } = await cliStderrUntil(["submit", "nobody-serves-this", "--payload", "x", "--wait", ...gateway], /still queued/);
    expect(stderr).toMatch(/task \S+ is still queued: no connected worker serves "nobody-serves-this" \(connected workers serve: [^)]*\bwhoami\b[^)]*\)\. Still waiting; start a worker that serves it/);
    expect(stderr).toContain("orchestrator worker --handlers");
    expect(ms).toBeLessThan(15_000);
  });

  it("get of an unknown task exits non-zero with the NotFound error on stderr", async () => {
    const unknown = randomUUID();
    const run = await runCli(["get", unknown, ...gateway]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(`error (NotFound): task ${unknown} does not exist\n`);
  });

  it("get of a malformed id exits non-zero with the InvalidArgument error on stderr", async () => {
    const run = await runCli(["get", "not-a-uuid", ...gateway]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \(InvalidArgument\): task_id "not-a-uuid" is not a UUID/);
  });
});

describe("choosing the gateway", () => {
  const workerCount = async (run: Promise<CliRun>): Promise<CliRun & { rows: number }> => {
    const done = await run;
    // Rows under the header.
    return { ...done, rows: done.stdout.trim() === "" ? 0 : done.stdout.trim().split("\n").length - 1 };
  };

  it("ORCHESTRATOR_GATEWAY_ADDRESS selects the gateway", async () => {
    const run = await workerCount(runCli(["workers"], { ORCHESTRATOR_GATEWAY_ADDRESS: cluster.gatewayAddress }));
    expect(run).toMatchObject({ code: 0, rows: 1 });
  });

  it("the environment is read: a dead address there fails with Unavailable", async () => {
    const run = await runCli(["workers"], { ORCHESTRATOR_GATEWAY_ADDRESS: deadAddress });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \(Unavailable\): /);
    expect(run.stderr).toContain(deadAddress);
  });

  it("--gateway selects the gateway, over the environment", async () => {
    const run = await workerCount(runCli(["workers", "--gateway", cluster.gatewayAddress], { ORCHESTRATOR_GATEWAY_ADDRESS: deadAddress }));
    expect(run).toMatchObject({ code: 0, rows: 1 });
    const dead = await runCli(["workers", "--gateway", deadAddress], { ORCHESTRATOR_GATEWAY_ADDRESS: cluster.gatewayAddress });
    expect(dead.code).toBe(1);
    expect(dead.stderr).toMatch(/^error \(Unavailable\): /);
  });
});

describe("--help", () => {
  const commands: { command: string; shows: string }[] = [
    { command: "dev", shows: "--gateway-port <port>" },
    { command: "scheduler", shows: "--data-dir <path>" },
    { command: "worker", shows: "--handlers <path>" },
    { command: "gateway", shows: "--scheduler <host:port>" },
    { command: "submit", shows: "--payload-file <path>" },
    { command: "watch", shows: "--after <sequence>" },
    { command: "get", shows: "--gateway <host:port>" },
    { command: "list", shows: "--page-token <token>" },
    { command: "cancel", shows: "--reason <text>" },
    { command: "workers", shows: "--json" },
    { command: "events", shows: "--after <cursor>" },
    { command: "pause", shows: "--reason <text>" },
    { command: "resume", shows: "--json" },
    { command: "paused", shows: "--json" },
    { command: "concurrency", shows: "set [options] <name> <max>" },
    { command: "rate-limit", shows: "set [options] <name>" },
  ];

  it.each(commands)("$command --help prints its usage", async ({ command, shows }) => {
    const run = await runCli([command, "--help"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Usage: orchestrator ${command} `));
    expect(run.stdout).toContain(shows);
    expect(run.stdout).toContain("-h, --help");
  });

  it("--help lists every command", async () => {
    const run = await runCli(["--help"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Usage: orchestrator /);
    for (const { command } of commands) expect(run.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
  });
});

describe("services configured by environment", () => {
  it("scheduler and gateway take their port, data dir and scheduler address from ORCHESTRATOR_* variables", async () => {
    const port = await freePort();
    const dir = tempDir("orchestrator-cli-env-");
    const started: ServiceProcess[] = [];
    try {
      const scheduler = await startService("scheduler", [], { ORCHESTRATOR_SCHEDULER_PORT: String(port), ORCHESTRATOR_DATA_DIR: dir.path });
      started.push(scheduler);
      const listening = await scheduler.waitForMessage(/^Scheduler service listening on /);
      expect(listening).toMatchObject({ msg: `Scheduler service listening on 127.0.0.1:${port}`, address: `127.0.0.1:${port}`, data_dir: dir.path });
      expect(existsSync(join(dir.path, "orchestrator.db"))).toBe(true);

      const client = new SchedulerClient(`127.0.0.1:${port}`, credentials.createInsecure());
      try {
        expect(await callUnary(client, client.healthCheck, {})).toMatchObject({ healthy: true });
      } finally {
        client.close();
      }

      const gatewayPort = await freePort();
      const viaEnv = await startService("gateway", [], { ORCHESTRATOR_GATEWAY_PORT: String(gatewayPort), ORCHESTRATOR_SCHEDULER_ADDRESS: `127.0.0.1:${port}` });
      started.push(viaEnv);
      expect(await viaEnv.waitForMessage(/^Gateway service listening on /)).toMatchObject({ address: `127.0.0.1:${gatewayPort}`, scheduler: `127.0.0.1:${port}` });
      // NotFound (not Unavailable) proves the gateway reached the scheduler it was told about.
      const unknown = randomUUID();
      const run = await runCli(["get", unknown], { ORCHESTRATOR_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}` });
      expect(run).toMatchObject({ code: 1, stderr: `error (NotFound): task ${unknown} does not exist\n` });
    } finally {
      await Promise.all(started.map((service) => service.stop("SIGKILL")));
      dir.remove();
    }
  });
});

describe("health", () => {
  it("exits 0 printing SERVING for each running service, and 1 naming the address when nothing answers", async () => {
    for (const address of [cluster.gatewayAddress, cluster.schedulerAddress]) {
      const run = await runCli(["health", "--address", address]);
      expect(run, address).toMatchObject({ code: 0, stdout: "SERVING\n" });
    }
    const byService = await runCli(["health", "--service", "orchestrator.v1.Scheduler"], { ORCHESTRATOR_HEALTH_ADDRESS: cluster.schedulerAddress });
    expect(byService).toMatchObject({ code: 0, stdout: "SERVING\n" });
    const unknown = await runCli(["health", "--address", cluster.gatewayAddress, "--service", "no.such.Service"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`error (NotFound): health check of ${cluster.gatewayAddress}: Health status unknown for service no.such.Service (--service)`);
    const dead = await runCli(["health", "--address", deadAddress, "--timeout-ms", "1000"]);
    expect(dead.code).toBe(1);
    expect(dead.stderr).toContain(`error (Unavailable): health check of ${deadAddress} failed`);
  });
});
