// Schedulers, Gateways and workers of one store as separate processes, and the journal their
// handlers write (test/fixtures/journal-handlers.mjs).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { freePort, startService, tempDir, type ServiceProcess } from "./processes.js";
import type { TestStore } from "./stores.js";

export const journalHandlers = fileURLToPath(new URL("../fixtures/journal-handlers.mjs", import.meta.url));

/** A journal line: what a handler did, for which attempt, in which process, when. */
export interface JournalEntry {
  kind: "start" | "done" | "abort";
  taskId: string;
  attempt: number;
  pid: number;
  at: number;
}

export function readJournal(path: string): JournalEntry[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).map((line) => {
    const [kind, taskId, attempt, pid, at] = line.split(" ");
    return { kind: kind as JournalEntry["kind"], taskId: String(taskId), attempt: Number(attempt), pid: Number(pid), at: Number(at) };
  });
}

/** Schedulers, Gateways and workers on one store, each a process on a free loopback port. */
export class ScaleOutRig {
  readonly processes: ServiceProcess[] = [];
  readonly clients: OrchestratorClient[] = [];
  readonly files = tempDir("orchestrator-scale-");
  readonly journal = join(this.files.path, "journal.log");

  constructor(readonly store: TestStore) {
    writeFileSync(this.journal, "");
  }

  async scheduler(args: string[] = []): Promise<{ process: ServiceProcess; address: string; id: string }> {
    const port = await freePort();
    const id = `scheduler-${port}`;
    const process = await startService("scheduler", [
      "--port", String(port), "--scheduler-id", id, "--store", this.store.url, "--data-dir", this.files.path, "--heartbeat-ms", "200",
      "--worker-timeout-ms", "2000", "--lease-ms", "2000", "--retry-backoff-ms", "50", ...args,
    ]);
    this.processes.push(process);
    return { process, address: `127.0.0.1:${port}`, id };
  }

  async gateway(schedulers: readonly string[]): Promise<{ process: ServiceProcess; client: OrchestratorClient }> {
    const port = await freePort();
    const process = await startService("gateway", ["--port", String(port), "--scheduler", schedulers.join(",")]);
    this.processes.push(process);
    const client = new OrchestratorClient({ address: `127.0.0.1:${port}` });
    this.clients.push(client);
    return { process, client };
  }

  async worker(schedulers: readonly string[], args: string[] = []): Promise<ServiceProcess> {
    const port = await freePort();
    const process = await startService("worker", [
      "--port", String(port), "--scheduler", schedulers.join(","), "--no-examples", "--handlers", journalHandlers, ...args,
    ], { ORCHESTRATOR_TEST_JOURNAL: this.journal });
    await process.waitForMessage("Worker registered with the scheduler");
    this.processes.push(process);
    return process;
  }

  entries(): JournalEntry[] {
    return readJournal(this.journal);
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await Promise.all(this.processes.map((service) => service.stop("SIGKILL")));
    await this.store.remove();
    this.files.remove();
  }
}

/** Resolves once `check` holds, polling the journal or the API every 10 ms (the evidence lives in other processes). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Calls `attempt` until it succeeds (a service failing over answers UNAVAILABLE meanwhile). */
until.retrying = async function retrying<T>(attempt: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing after ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
};

