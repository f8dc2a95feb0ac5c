import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { freePort } from "../../bench/src/net.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { OrchestratorClient, type ClientOptions } from "../../packages/client/src/client.js";

import { createTestStore, type StoreBackend, type TestStore } from "./stores.js";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const cliPath = join(repoRoot, "packages/server/dist/cli/main.js");
export const fixtureHandlers = join(repoRoot, "test/fixtures/handlers.mjs");

export type LogRecord = Record<string, unknown> & { msg?: string; level?: string };

/** A free loopback port, as the OS hands it out. */
export { freePort };

export function tempDir(prefix = "orchestrator-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * One real service process (`orchestrator <command> ...`). Its JSON log lines are kept and
 * emitted, so tests wait for what a process says instead of sleeping.
 */
export class ServiceProcess extends EventEmitter {
  readonly logs: LogRecord[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(readonly command: string, readonly args: string[], env: Record<string, string> = {}) {
    super();
    this.child = spawn(process.execPath, [cliPath, command, ...args], {
      env: { ...process.env, ORCHESTRATOR_LOG_LEVEL: "debug", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        this.output.push(line);
        try {
          const record = JSON.parse(line) as LogRecord;
          this.logs.push(record);
          this.emit("log", record);
        } catch {
          this.emit("line", line);
        }
      });
    }
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first log record (already seen or future) that matches. */
  waitForLog(match: (record: LogRecord) => boolean, timeoutMs = 15_000): Promise<LogRecord> {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("log", onLog);
        reject(new Error(`${this.command} did not log the expected record within ${timeoutMs} ms; last lines:\n${this.output.slice(-15).join("\n")}`));
      }, timeoutMs);
      const onLog = (record: LogRecord): void => {
        if (!match(record)) return;
        clearTimeout(timer);
        this.off("log", onLog);
        resolve(record);
      };
      this.on("log", onLog);
    });
  }

  waitForMessage(message: string | RegExp, timeoutMs?: number): Promise<LogRecord> {
    return this.waitForLog((record) => (typeof message === "string" ? record.msg === message : message.test(String(record.msg))), timeoutMs);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = "SIGINT", timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export async function startService(command: "scheduler" | "worker" | "gateway", args: string[], env: Record<string, string> = {}): Promise<ServiceProcess> {
  const service = new ServiceProcess(command, args, env);
  const name = command[0]?.toUpperCase() + command.slice(1);
  await Promise.race([
    service.waitForMessage(new RegExp(`^${name} service listening on `)),
    service.exited.then(({ code }) => {
      throw new Error(`${command} exited with ${code} before listening:\n${service.output.join("\n")}`);
    }),
  ]);
  return service;
}

export interface ClusterOptions {
  /** The store of the Scheduler: its --data-dir (SQLite, the default) or a PostgreSQL schema of its own. */
  store?: StoreBackend;
  workers?: number;
  schedulerArgs?: string[];
  workerArgs?: string[];
  dataDir?: string;
  /** More arguments of the Gateway. */
  gatewayArgs?: string[];
  /** Environment of every process (keys, TLS), then per service. */
  env?: Record<string, string>;
  schedulerEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Options of `client` besides its address (apiKey, tls). */
  client?: Omit<ClientOptions, "address">;
}

/** Scheduler, Gateway and workers as separate processes on free loopback ports, one data dir. */
export class Cluster {
  scheduler!: ServiceProcess;
  gateway!: ServiceProcess;
  readonly workers: ServiceProcess[] = [];
  client!: OrchestratorClient;
  schedulerPort = 0;
  gatewayPort = 0;
  private readonly data: { path: string; remove(): void };
  /** Where the Scheduler keeps tasks; tests read invariants through it (readAllTasks). */
  testStore!: TestStore;

  constructor(private readonly options: ClusterOptions = {}) {
    this.data = options.dataDir ? { path: options.dataDir, remove: () => undefined } : tempDir();
  }

  get dataDir(): string {
    return this.data.path;
  }

  get schedulerAddress(): string {
    return `127.0.0.1:${this.schedulerPort}`;
  }

  get gatewayAddress(): string {
    return `127.0.0.1:${this.gatewayPort}`;
  }

  async start(): Promise<this> {
    this.schedulerPort = await freePort();
    this.gatewayPort = await freePort();
    this.testStore = await createTestStore(this.options.store ?? "sqlite", this.dataDir);
    await this.startScheduler();
    this.gateway = await startService("gateway", ["--port", String(this.gatewayPort), "--scheduler", this.schedulerAddress, ...(this.options.gatewayArgs ?? [])], { ...this.options.env, ...this.options.gatewayEnv });
    for (let i = 0; i < (this.options.workers ?? 1); i++) await this.addWorker();
    this.client = new OrchestratorClient({ ...this.options.client, address: this.gatewayAddress });
    return this;
  }

  async startScheduler(): Promise<ServiceProcess> {
    this.scheduler = await startService("scheduler", [
      "--port", String(this.schedulerPort), "--data-dir", this.dataDir, "--heartbeat-ms", "200", "--worker-timeout-ms", "2000",
      "--lease-ms", "2000", "--retry-backoff-ms", "50", ...(this.testStore.backend === "postgres" ? ["--store", this.testStore.url] : []),
      ...(this.options.schedulerArgs ?? []),
    ], { ...this.options.env, ...this.options.schedulerEnv });
    return this.scheduler;
  }

  /** Starts a worker and waits until the Scheduler has registered it. */
  async addWorker(args: string[] = this.options.workerArgs ?? [], env: Record<string, string> = {}): Promise<ServiceProcess> {
    const port = await freePort();
    const worker = await startService("worker", ["--port", String(port), "--scheduler", this.schedulerAddress, "--handlers", fixtureHandlers, ...args], { ...this.options.env, ...this.options.workerEnv, ...env });
    await worker.waitForMessage("Worker registered with the scheduler");
    this.workers.push(worker);
    return worker;
  }

  async stop(): Promise<void> {
    this.client?.close();
    await Promise.all([...this.workers, this.gateway, this.scheduler].filter(Boolean).map((service) => service.stop("SIGKILL")));
    await this.testStore?.remove();
    this.data.remove();
  }
}
