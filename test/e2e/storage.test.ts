// The Scheduler's data directory: private files at rest.
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startService, tempDir, type ServiceProcess } from "../helpers/processes.js";

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
