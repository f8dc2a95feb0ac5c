// An outage of every Scheduler longer than the lease costs the running tasks nothing: their
// workers keep running them, reconnect when a Scheduler is back, report them and are adopted;
// no handler runs twice.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../helpers/processes.js";
import { storeBackends } from "../helpers/stores.js";
import { readJournal, until } from "../helpers/scale-out.js";

const journalHandlers = fileURLToPath(new URL("../fixtures/journal-handlers.mjs", import.meta.url));
const outageMs = 30_000;

describe.each(storeBackends)("a 30 s outage of every Scheduler (%s store)", (store) => {
  const cluster = new Cluster({
    store, workers: 0,
    // Leases of 2 s: without the grace after an outage every running attempt would be expired on restart.
    schedulerArgs: ["--worker-timeout-ms", "5000"],
  });
  let journal = "";

  beforeAll(async () => {
    await cluster.start();
    journal = join(cluster.dataDir, "journal.log");
    writeFileSync(journal, "");
    await cluster.addWorker(["--no-examples", "--handlers", journalHandlers, "--slots", "6"], { ORCHESTRATOR_TEST_JOURNAL: journal });
  }, 30_000);

  afterAll(async () => {
    await cluster.stop();
  });

  it("runs no handler twice: the workers' running attempts are adopted after the restart", async () => {
    const tasks = await Promise.all(Array.from({ length: 6 }, () => cluster.client.submit({ name: "journaled", payload: { ms: outageMs + 8000 }, maxRetries: 3 })));
    await until(() => readJournal(journal).filter((entry) => entry.kind === "start").length === 6, 5000, "six handlers to start");
    await cluster.scheduler.stop("SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    await cluster.startScheduler();
    for (const { taskId } of tasks) {
      await until(async () => (await cluster.client.get(taskId)).state === "succeeded", 30_000, `task ${taskId} to succeed`);
    }
    const entries = readJournal(journal);
    for (const { taskId } of tasks) {
      expect(entries.filter((entry) => entry.taskId === taskId).map((entry) => `${entry.kind} ${entry.attempt}`), `task ${taskId}`).toEqual(["start 1", "done 1"]);
      expect((await cluster.client.get(taskId)).attempt).toBe(1);
    }
  }, 120_000);
});
