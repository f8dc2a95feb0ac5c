// What a Node version changes for the services: which SQLite driver runs, that it survives the
// garbage collector (better-sqlite3 12 aborts the process on Node 24 when a statement is freed),
// and that Node 22 prints no "SQLite is an experimental feature" warning.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, repoRoot, startService, tempDir } from "../helpers/processes.js";

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
/** node:sqlite has everything the store needs from Node 22.16 on. */
const expectedDriver = major > 22 || (major === 22 && minor >= 16) ? "node:sqlite" : "better-sqlite3";
const driverModule = pathToFileURL(join(repoRoot, "packages/server/dist/store/sqlite/driver.js")).href;

function runNode(args: string[], script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, "--input-type=module", "-e", script], { env: { ...process.env, ORCHESTRATOR_SQLITE_DRIVER: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe(`Node ${process.versions.node}`, () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it(`opens the store with ${expectedDriver}, which survives the garbage collection of its statements`, async () => {
    const script = `
      import { openSqlite } from ${JSON.stringify(driverModule)};
      const db = openSqlite(":memory:");
      for (let i = 0; i < 5000; i++) db.prepare("SELECT " + i).get();
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
      globalThis.gc();
      db.close();
      process.emitWarning("still shown", "ExperimentalWarning");
      await new Promise((resolve) => setImmediate(resolve));
      console.log(db.driver);
    `;
    const result = await runNode(["--expose-gc"], script);
    expect({ code: result.code, signal: result.signal, driver: result.stdout.trim() }).toEqual({ code: 0, signal: null, driver: expectedDriver });
    // Only node:sqlite's own warning is silenced: another ExperimentalWarning still gets through.
    expect(result.stderr).not.toContain("SQLite is an experimental feature");
    expect(result.stderr).toContain("ExperimentalWarning: still shown");
  });

  it("runs a Scheduler that names its driver and prints no warning", async () => {
    const data = tempDir();
    cleanups.push(() => data.remove());
    const scheduler = await startService("scheduler", ["--port", String(await freePort()), "--data-dir", data.path], { ORCHESTRATOR_SQLITE_DRIVER: "" });
    cleanups.push(() => scheduler.stop());
    const listening = await scheduler.waitForMessage(/^Scheduler service listening on /);
    expect(listening.sqlite_driver).toBe(expectedDriver);
    expect(scheduler.output.filter((line) => /Warning/.test(line))).toEqual([]);
  });
});
