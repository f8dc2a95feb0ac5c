// The three-process deployment the benchmark measures: Scheduler, Gateway and Worker as separate
// `orchestrator` processes on loopback, logging at warn, on a fresh store: the embedded SQLite file in
// a new temp dir, or a new schema of the PostgreSQL database (ORCHESTRATOR_BENCH_POSTGRES_URL).
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { freePort } from "./net.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { OrchestratorClient } from "orchestrator-ts-client/internal";
import { writePostgresDashboardHistory, writePostgresHistory, writeSqliteDashboardHistory, writeSqliteHistory } from "./history.js";
import { BenchSchema } from "./postgres.js";
import { procCpuSeconds, procMemoryMb, resultPrefix, sleep } from "./util.js";

/** bench/dist, where the bench's own scripts are built. */
export const benchDist = fileURLToPath(new URL(".", import.meta.url));
export const cliPath = fileURLToPath(new URL("../../packages/server/dist/cli/main.js", import.meta.url));
export const benchHandlersPath = join(benchDist, "handlers.js");

/** The store under test: the embedded SQLite file with that `--sqlite-synchronous` mode, or PostgreSQL. */
export type StoreMode = "full" | "normal" | "postgres";
export const storeModes: readonly StoreMode[] = ["full", "normal", "postgres"];

export { freePort };

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * One child Node process. Its output is kept (only the tail is ever shown) and each stdout line is
 * emitted, so the parent waits for what a child says (`BENCH_RESULT {...}`, `READY ...`).
 */
export class NodeProcess extends EventEmitter {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly tail: string[] = [];

  constructor(readonly label: string, script: string, args: string[], nodeFlags: string[] = [], env: Record<string, string> = {}) {
    super();
    this.child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    this.exited = new Promise((resolve) => this.child.once("close", (code) => resolve(code)));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.tail.push(line);
        if (this.tail.length > 30) this.tail.shift();
        this.emit("line", line);
      });
    }
  }

  /** Resolves with the rest of the first stdout/stderr line that starts with `prefix`. */
  waitForLine(prefix: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (error: Error | null, value = ""): void => {
        clearTimeout(timer);
        this.off("line", onLine);
        if (error) reject(error);
        else resolve(value);
      };
      const onLine = (line: string): void => {
        if (line.startsWith(prefix)) done(null, line.slice(prefix.length));
      };
      const timer = setTimeout(() => done(new Error(`${this.label} did not print "${prefix}" within ${timeoutMs} ms:\n${this.output()}`)), timeoutMs);
      this.on("line", onLine);
      void this.exited.then((code) => done(new Error(`${this.label} exited (${code}) before printing "${prefix}":\n${this.output()}`)));
    });
  }

  /** Waits for the child's `BENCH_RESULT <json>` line. */
  async result<T>(timeoutMs: number): Promise<T> {
    return JSON.parse(await this.waitForLine(resultPrefix, timeoutMs)) as T;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.tail.join("\n");
  }

  rssMb(): number {
    return procMemoryMb(this.pid, "VmRSS");
  }

  peakRssMb(): number {
    return procMemoryMb(this.pid, "VmHWM");
  }

  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  /** SIGINT (a graceful stop, which also writes --cpu-prof profiles), then SIGKILL after a while. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill("SIGINT");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** An orchestrator service; it logs at warn, so readiness is observed on its port instead. */
export class ServiceProcess extends NodeProcess {
  constructor(readonly command: "scheduler" | "gateway" | "worker", readonly port: number, args: string[], nodeFlags: string[] = [], env: Record<string, string> = {}) {
    super(command, cliPath, [command, "--port", String(port), "--log-level", "warn", ...args], nodeFlags, env);
  }

  async listening(timeoutMs = 20_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`${this.command} exited (${this.child.exitCode}) before listening:\n${this.output()}`);
      if (await portOpen(this.port)) return this;
      await sleep(25);
    }
    throw new Error(`${this.command} did not listen on ${this.port} within ${timeoutMs} ms:\n${this.output()}`);
  }
}

export interface DeploymentOptions {
  store: StoreMode;
  /** Slots of the worker process; 0 starts no worker process. */
  workerSlots: number;
  /** The worker's --prefetch (claim-ahead); default 0, as shipped. */
  workerPrefetch?: number;
  /** When set, every service runs under `node --cpu-prof` writing to <profileDir>/<service>/. */
  profileDir?: string;
  /** Added to every service's environment (W2-hops: the OpenTelemetry exporter's settings). */
  serviceEnv?: Record<string, string>;
  /**
   * PostgreSQL only: a second Scheduler B on the same schema, and the worker attached to B while the
   * Gateway stays on A, so every task crosses from one Scheduler to the other through the database.
   */
  crossScheduler?: boolean;
  /** Finished tasks (with their events) written into the store before the measured start (see history.ts). */
  history?: number;
  /** "dashboard": the history is the dashboard's mix of names and states instead (see history.ts). */
  historyShape?: "finished" | "dashboard";
  /** The Gateway also serves HTTP (the dashboard, /metrics) on a port of its own: gatewayHttpPort. */
  gatewayHttp?: boolean;
}

/** Scheduler(s), Gateway and (optionally) one Worker, each its own process, on one fresh store. */
export class Deployment {
  scheduler!: ServiceProcess;
  /** The second Scheduler of a cross-Scheduler deployment, which the worker attaches to. */
  schedulerB: ServiceProcess | undefined;
  gateway!: ServiceProcess;
  worker: ServiceProcess | undefined;
  readonly dataDir = mkdtempSync(join(tmpdir(), "orchestrator-bench-"));
  /** The PostgreSQL schema of a `postgres` deployment, created by start() and dropped by stop(). */
  readonly schema: BenchSchema | undefined;
  /** The highest seq of the preloaded history (0: none): the run's tasks all come after it. */
  historySeq = 0;
  /** The Gateway's HTTP port when options.gatewayHttp is set. */
  gatewayHttpPort: number | undefined;

  constructor(readonly options: DeploymentOptions) {
    if (options.crossScheduler && options.store !== "postgres") throw new Error("two Schedulers share a store only on PostgreSQL");
    this.schema = options.store === "postgres" ? new BenchSchema() : undefined;
  }

  get schedulerAddress(): string {
    return `127.0.0.1:${this.scheduler.port}`;
  }

  /** Where the worker attaches: Scheduler B in a cross-Scheduler deployment, else the only Scheduler. */
  get workerSchedulerAddress(): string {
    return `127.0.0.1:${(this.schedulerB ?? this.scheduler).port}`;
  }

  get gatewayAddress(): string {
    return `127.0.0.1:${this.gateway.port}`;
  }

  get databasePath(): string {
    return join(this.dataDir, "orchestrator.db");
  }

  private nodeFlags(service: string): string[] {
    const dir = this.options.profileDir;
    return dir ? ["--cpu-prof", "--cpu-prof-dir", join(dir, service)] : [];
  }

  private storeArgs(): string[] {
    if (!this.schema) return ["--data-dir", this.dataDir, "--sqlite-synchronous", this.options.store];
    return ["--data-dir", this.dataDir, "--store", this.schema.storeUrl];
  }

  async start(): Promise<this> {
    await this.schema?.create();
    if (this.options.history) await this.writeHistory(this.options.history);
    this.scheduler = new ServiceProcess("scheduler", await freePort(), this.storeArgs(), this.nodeFlags("scheduler"), this.options.serviceEnv);
    await this.scheduler.listening();
    if (this.options.crossScheduler) {
      this.schedulerB = new ServiceProcess("scheduler", await freePort(), this.storeArgs(), this.nodeFlags("scheduler-b"), this.options.serviceEnv);
      await this.schedulerB.listening();
    }
    this.gatewayHttpPort = this.options.gatewayHttp ? await freePort() : undefined;
    const httpArgs = this.gatewayHttpPort === undefined ? [] : ["--http-port", String(this.gatewayHttpPort)];
    this.gateway = new ServiceProcess("gateway", await freePort(), ["--scheduler", this.schedulerAddress, ...httpArgs], this.nodeFlags("gateway"), this.options.serviceEnv);
    await this.gateway.listening();
    if (this.options.workerSlots > 0) {
      this.worker = new ServiceProcess("worker", await freePort(), [
        "--scheduler", this.workerSchedulerAddress, "--slots", String(this.options.workerSlots), "--prefetch", String(this.options.workerPrefetch ?? 0), "--handlers", benchHandlersPath,
      ], this.nodeFlags("worker"), this.options.serviceEnv);
      await this.worker.listening();
      // The Gateway asks Scheduler A, which does not list the workers of B.
      if (!this.options.crossScheduler) await this.waitForWorkers(1);
    }
    return this;
  }

  /**
   * A Scheduler started and stopped once migrates the fresh store; the history is written with no
   * Scheduler running, so none sees it arrive (PostgreSQL's event feed starts after it).
   */
  private async writeHistory(count: number): Promise<void> {
    const migrating = new ServiceProcess("scheduler", await freePort(), this.storeArgs());
    await migrating.listening();
    await migrating.stop();
    if (this.options.historyShape === "dashboard") {
      this.historySeq = this.schema ? await writePostgresDashboardHistory(this.schema, count) : writeSqliteDashboardHistory(this.databasePath, count);
    } else {
      this.historySeq = this.schema ? await writePostgresHistory(this.schema, count) : writeSqliteHistory(this.databasePath, count);
    }
  }

  /** Waits until the Scheduler lists `count` connected workers (asked through the Gateway). */
  async waitForWorkers(count: number, timeoutMs = 30_000): Promise<void> {
    const client = new OrchestratorClient({ address: this.gatewayAddress, timeoutMs: 5000 });
    try {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if ((await client.workers()).length >= count) return;
        await sleep(50);
      }
      throw new Error(`${count} worker(s) did not register within ${timeoutMs} ms`);
    } finally {
      client.close();
    }
  }

  services(): ServiceProcess[] {
    return [this.scheduler, this.schedulerB, this.gateway, this.worker].filter((service): service is ServiceProcess => service !== undefined);
  }

  /** Stops the front door first and the owners of state last; the store stays for a last look. */
  async stopServices(): Promise<void> {
    await this.worker?.stop();
    await this.gateway?.stop();
    await this.schedulerB?.stop();
    await this.scheduler?.stop();
  }

  /** Stops every service, then removes the data dir and drops the PostgreSQL schema. */
  async stop(): Promise<void> {
    try {
      await this.stopServices();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
      await this.schema?.drop();
    }
  }
}
