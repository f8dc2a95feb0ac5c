// The Scheduler's data directory: private files at rest, and a full disk answered as such.
import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import type { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { Cluster, freePort, startService, tempDir, type LogRecord, type ServiceProcess } from "../helpers/processes.js";
import { refusal } from "../helpers/grpc.js";

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, "0");
const databaseFiles = (dataDir: string): string[] => ["orchestrator.db", "orchestrator.db-wal", "orchestrator.db-shm"].map((file) => join(dataDir, file));

describe("data at rest", () => {
  let previousUmask = 0;
  const parent = tempDir("orchestrator-at-rest-");
  const started: ServiceProcess[] = [];

  beforeAll(() => {
    // The usual umask, under which the files used to be world-readable; the Scheduler inherits it.
    previousUmask = process.umask(0o022);
  });

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop("SIGKILL")));
    process.umask(previousUmask);
    parent.remove();
  });

  async function startScheduler(dataDir: string): Promise<ServiceProcess> {
    const scheduler = await startService("scheduler", ["--port", String(await freePort()), "--data-dir", dataDir]);
    started.push(scheduler);
    return scheduler;
  }

  it("creates a new data directory 0700 and orchestrator.db, -wal and -shm 0600 under umask 022", async () => {
    const dataDir = join(parent.path, "fresh", "data");
    await startScheduler(dataDir);
    expect(modeOf(dataDir)).toBe("0700");
    // The folder created on the way is private too.
    expect(modeOf(join(parent.path, "fresh"))).toBe("0700");
    // The Scheduler has migrated the schema in WAL mode, so all three files exist while it runs.
    for (const file of databaseFiles(dataDir)) expect(`${file} ${modeOf(file)}`).toBe(`${file} 0600`);
  });

  it("keeps an existing directory's mode (0750 stays 0750) and tightens database files an older version left 0644", async () => {
    const dataDir = join(parent.path, "existing-0750");
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o750);
    // As an older version left them: a database, and -wal and -shm files, readable by everyone.
    new BetterSqlite3(join(dataDir, "orchestrator.db")).close();
    writeFileSync(join(dataDir, "orchestrator.db-wal"), "", { mode: 0o644 });
    writeFileSync(join(dataDir, "orchestrator.db-shm"), "", { mode: 0o644 });
    for (const file of databaseFiles(dataDir)) expect(modeOf(file)).toBe("0644");

    const scheduler = await startScheduler(dataDir);
    expect(modeOf(dataDir)).toBe("0750");
    for (const file of databaseFiles(dataDir)) expect(`${file} ${modeOf(file)}`).toBe(`${file} 0600`);
    // A group-only directory is taken as the operator's choice: no warning.
    expect(scheduler.logs.filter((r) => r.level === "warn" && String(r.msg).includes("data directory"))).toEqual([]);
  });

  it("keeps an existing directory every local user can list (0755) but warns about it", async () => {
    const dataDir = join(parent.path, "existing-0755");
    mkdirSync(dataDir, { mode: 0o755 });
    const scheduler = await startScheduler(dataDir);
    expect(modeOf(dataDir)).toBe("0755");
    for (const file of databaseFiles(dataDir)) expect(`${file} ${modeOf(file)}`).toBe(`${file} 0600`);
    const warning = await scheduler.waitForLog((r) => r.level === "warn" && r.data_dir === dataDir, 2000);
    expect(warning.msg).toContain(`consider chmod 700 ${dataDir}`);
  });
});

describe("a full disk", () => {
  // Small enough to fill in a moment; the WAL never reaches SQLite's 1,000-page auto-checkpoint,
  // so it only grows and a write that needs room fails.
  const mountPoint = mkdtempSync(join(tmpdir(), "orchestrator-full-disk-"));
  const dataDir = join(mountPoint, "data");
  const filler = join(mountPoint, "filler");
  let mountFailure: string | null = null;
  let cluster: Cluster | null = null;

  beforeAll(() => {
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint], { stdio: "pipe" });
    } catch (error) {
      mountFailure = `cannot mount a tmpfs (needs root): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
    }
  });

  afterAll(async () => {
    await cluster?.stop();
    if (!mountFailure) execFileSync("umount", [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  /** Writes the filler until the filesystem has no room left. */
  function fillDisk(): void {
    const fd = openSync(filler, "w");
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    } finally {
      closeSync(fd);
    }
  }

  it("answers RESOURCE_EXHAUSTED naming the Scheduler's disk on every path, backs off dispatch, stores nothing refused, and recovers by itself", async ({ skip }) => {
    if (mountFailure) skip(mountFailure);
    cluster = await new Cluster({ workers: 0, dataDir }).start();
    const client = cluster.client;
    const unaryClient = new OrchestratorClient({ address: cluster.gatewayAddress, pipeline: false });
    try {
      // Acknowledged before the disk fills: three tasks no worker serves yet, and one to cancel.
      const acknowledged = await Promise.all([1, 2, 3].map((i) => client.submit({ name: "whoami", payload: `before ${i}` })));
      const toCancel = await client.submit({ name: "full-disk-unserved", payload: "cancel me" });

      fillDisk();
      // A worker for the queued tasks: every dispatch round now tries to claim them and fails.
      await cluster.addWorker();
      const payload = Buffer.alloc(100 * 1024, 7);
      const refused = "full-disk-refused";
      const refusals: Array<[string, OrchestratorError]> = [];
      // SubmitStream (the SDK's pipeline), many times, each submit also kicking the dispatcher.
      for (let i = 0; i < 30; i++) refusals.push([`SubmitStream #${i}`, await refusal(client.submit({ name: refused, payload, idempotencyKey: `refused-${i}` }))]);
      refusals.push(["SubmitTask", await refusal(unaryClient.submit({ name: refused, payload }))]);
      refusals.push(["SubmitTasks", await refusal(client.submitMany([{ name: refused, payload }, { name: refused, payload: "small" }]))]);
      refusals.push(["CancelTask", await refusal(client.cancel(toCancel.taskId))]);
      for (const [path, error] of refusals) {
        expect(`${path}: ${error.code}`).toBe(`${path}: ${Code.ResourceExhausted}`);
        expect(error.rawMessage, path).toContain(`the scheduler's disk is full (data directory ${dataDir})`);
      }

      // The dispatcher kept failing (the claim of the queued tasks), but said so once, not per round.
      const failedRounds = cluster.scheduler.logs.filter((r: LogRecord) => r.msg === "Dispatch round failed");
      expect(failedRounds.length).toBeGreaterThanOrEqual(1);
      expect(failedRounds.length).toBeLessThanOrEqual(2);
      expect(String((failedRounds[0]?.err as { message?: string } | undefined)?.message)).toContain("the scheduler's disk is full");

      unlinkSync(filler);
      // Nothing kicks the dispatcher now: its own retry claims the queued tasks and they run.
      for (const task of acknowledged) await cluster.scheduler.waitForLog((r) => r.msg === "Task succeeded" && r.task_id === task.taskId, 10_000);
      const recovered = await cluster.scheduler.waitForMessage("Dispatch rounds succeed again", 2000);
      expect(Number(recovered.failures_in_a_row)).toBeGreaterThan(1);

      // Every path works again.
      const again = "full-disk-after";
      await client.submit({ name: again, payload });
      await unaryClient.submit({ name: again, payload });
      await client.submitMany([{ name: again, payload }, { name: again }]);
      expect(await client.cancel(toCancel.taskId)).toMatchObject({ cancelled: true });
      // A refused idempotency key holds nothing: its submit makes a new task now.
      const retried = await client.submit({ name: again, payload, idempotencyKey: "refused-0" });
      expect((await client.get(retried.taskId)).name).toBe(again);

      // Nothing refused was stored; everything acknowledged is there.
      expect((await client.list({ name: refused })).tasks).toEqual([]);
      expect((await client.list({ name: again })).tasks).toHaveLength(5);
      for (const task of acknowledged) expect((await client.get(task.taskId)).state).toBe("succeeded");
    } finally {
      unaryClient.close();
    }
  });
});
