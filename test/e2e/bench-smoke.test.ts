// Keeps `npm run bench` working: its --quick smoke run (tiny N, every workload, on SQLite full and
// on PostgreSQL, with a 2 s horizon hold) must finish, find every task run exactly once, and write its
// JSON. The full benchmark is not part of npm test.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot, tempDir } from "../helpers/processes.js";

const run = promisify(execFile);

describe("npm run bench -- --quick", () => {
  const out = tempDir("orchestrator-bench-");

  afterAll(() => out.remove());

  it("runs every workload and reports no lost, duplicated or retried task", async () => {
    const { stdout } = await run(process.execPath, [join(repoRoot, "bench/dist/main.js"), "--quick", "--modes", "full,postgres", "--horizon-seconds", "2", "--out", out.path], { timeout: 260_000, maxBuffer: 16 * 1024 * 1024 });
    for (const workload of ["W1", "W1-unary", "W1-batch", "W2", "W3", "Due", "W4", "W4-paced", "W1-history", "W2-history", "Floor", "X-dispatch", "W1-horizon", "Dashboard"]) expect(stdout).toMatch(new RegExp(`^${workload}\\s`, "m"));
    const [file] = readdirSync(out.path).filter((name) => name.endsWith(".json"));
    expect(file).toBeDefined();
    const report = JSON.parse(readFileSync(join(out.path, file ?? ""), "utf8")) as { results: Array<{ workload: string; mode: string; median: Record<string, number> }> };
    const w1 = report.results.filter((r) => r.workload.startsWith("W1"));
    expect(w1.length).toBeGreaterThanOrEqual(3);
    for (const result of w1) {
      expect(result.median.lost).toBe(0);
      expect(result.median.notFirstAttempt).toBe(0);
      expect(result.median.succeeded).toBe(result.median.acknowledged);
    }
    // The database's cost per task is read around the PostgreSQL W1 run: at least the enqueue commits.
    expect(report.results.find((r) => r.workload === "W1" && r.mode === "postgres")?.median.commitsPerTask).toBeGreaterThan(0);
    // Delayed tasks: every one started, none before its due time.
    for (const due of report.results.filter((r) => r.workload === "Due")) {
      expect(due.median).toMatchObject({ startDelayCount: 500, early: 0, lost: 0 });
    }
    // Concurrency keys: every keyed task ran once.
    for (const keyed of report.results.filter((r) => r.workload === "W4")) {
      expect(keyed.median).toMatchObject({ acknowledged: 2_000, succeeded: 2_000, lost: 0, notFirstAttempt: 0 });
    }
    // A store with history: the run's tasks all ran once, and the readers counted them, not the history's.
    for (const history of report.results.filter((r) => r.workload === "W1-history" || r.workload === "W2-history")) {
      expect(history.median.historyTasks, `${history.workload} ${history.mode}`).toBe(20_000);
      expect(history.median, `${history.workload} ${history.mode}`).toMatchObject({ lost: 0, notFirstAttempt: 0, rows: history.median.acknowledged });
    }
    expect(report.results.filter((r) => r.workload === "W1-history").map((r) => r.median.acknowledged)).toEqual([500, 500]);
    // The dashboard's overview counted every task of the store, in a real browser.
    for (const dashboard of report.results.filter((r) => r.workload === "Dashboard")) {
      expect(dashboard.median, `Dashboard ${dashboard.mode}`).toMatchObject({ tasksInStore: 20_000, tasksCounted: 20_000, errors: 0 });
      expect(dashboard.median.firstScreenMaxMs).toBeGreaterThan(0);
    }
    const floor = report.results.find((r) => r.workload === "Floor");
    for (const figure of ["streamRttP50", "unaryRttP50", "fsyncP50"]) expect(floor?.median[figure]).toBeGreaterThan(0);
  }, 290_000);
});
