import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { checkHttpPort, withDefaults } from "../util/options.js";
import type { SqliteSynchronous } from "../store/sqlite/sqlite-store.js";
import type { LogLevel } from "orchestrator-ts-client/internal";

export interface SchedulerOptions {
  host?: string;
  port?: number;
  /** Port of the HTTP listener (/metrics, /healthz, /readyz) on `host`; null: none. */
  httpPort?: number | null;
  /** Folder of the embedded store's file (orchestrator.db). */
  dataDir?: string;
  sqliteSynchronous?: SqliteSynchronous;
  logLevel?: LogLevel;
  /** How often workers must send something; also the lease renewal and sweep period. */
  heartbeatIntervalMs?: number;
  /** Silence after which a worker is presumed dead and its attempts retried elsewhere. */
  workerTimeoutMs?: number;
  /** How long a running attempt stays owned in the store without renewal (covers a Scheduler crash). */
  leaseMs?: number;
  /** Added to a task's timeout before the Scheduler fails an attempt its worker did not end. */
  deadlineGraceMs?: number;
  defaultRetryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** Queued plus retrying tasks beyond which submits get RESOURCE_EXHAUSTED. */
  maxWaitingTasks?: number;
  /** How long an idempotency key keeps answering with its task. */
  idempotencyRetentionMs?: number;
  /**
   * A dispatch kick this long after the last round claims at once, in the same commit as the
   * submit that kicked it (low latency); sooner kicks coalesce until the end of the event-loop turn
   * (more tasks per commit under load).
   */
  dispatchIdleMs?: number;
  /**
   * Tasks one dispatch round claims at most (in one commit); the workers that have waited longest
   * are served first and the rest in the next round, which starts at once. Smaller rounds get their
   * first assignments out sooner when hundreds of slots free up together.
   */
  maxClaimPerRound?: number;
  /**
   * Where tasks are kept: "sqlite:<path>" (the embedded default, a file under dataDir) or a
   * PostgreSQL URL ("postgres://user@host:5432/db", optional ?schema=name) shared by several Schedulers.
   * Empty means the SQLite file in dataDir.
   */
  store?: string;
  /** This Scheduler's name in the store's leadership row; empty means host:port (a restarted Scheduler takes its own term back at once). */
  schedulerId?: string;
  /** How long the maintenance leadership lasts without renewal (renewed every heartbeat). */
  leaderTtlMs?: number;
  /** Finished tasks and their events are deleted this long after they finished. */
  retentionMs?: number;
  /** PostgreSQL: how often each Scheduler looks for work and events without a NOTIFY hint. */
  pollIntervalMs?: number;
  /** PostgreSQL: no LISTEN, only the poll (behind a connection pooler that cannot LISTEN, as PgBouncer in transaction mode). */
  pollOnly?: boolean;
}

export type CompiledSchedulerOptions = Required<SchedulerOptions>;

export const schedulerDefaults = {
  host: "127.0.0.1",
  port: 50052,
  httpPort: null,
  dataDir: "./data",
  sqliteSynchronous: "full",
  logLevel: "info",
  heartbeatIntervalMs: 1000,
  workerTimeoutMs: 5000,
  leaseMs: 5000,
  deadlineGraceMs: 2000,
  defaultRetryBackoffMs: 1000,
  maxRetryBackoffMs: 300_000,
  maxWaitingTasks: 1_000_000,
  idempotencyRetentionMs: 24 * 3600 * 1000,
  dispatchIdleMs: 1,
  maxClaimPerRound: 200,
  store: "",
  schedulerId: "",
  leaderTtlMs: 10_000,
  retentionMs: 7 * 24 * 3600 * 1000,
  pollIntervalMs: 1000,
  pollOnly: false,
} as const satisfies CompiledSchedulerOptions;

function positive(name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) throw OrchestratorError.invalidArgument(`${name} must be an integer of at least ${min}, got ${value}`);
  return value;
}

/** Validates and defaults the options once, at construction. */
export function compileSchedulerOptions(options: SchedulerOptions): CompiledSchedulerOptions {
  const compiled: CompiledSchedulerOptions = withDefaults<SchedulerOptions>(schedulerDefaults, options);
  positive("port", compiled.port, 0);
  checkHttpPort(compiled.httpPort);
  positive("heartbeatIntervalMs", compiled.heartbeatIntervalMs, 10);
  positive("workerTimeoutMs", compiled.workerTimeoutMs, compiled.heartbeatIntervalMs * 2);
  positive("leaseMs", compiled.leaseMs, compiled.heartbeatIntervalMs * 2);
  positive("deadlineGraceMs", compiled.deadlineGraceMs, 0);
  positive("defaultRetryBackoffMs", compiled.defaultRetryBackoffMs);
  positive("maxRetryBackoffMs", compiled.maxRetryBackoffMs);
  positive("maxWaitingTasks", compiled.maxWaitingTasks);
  positive("idempotencyRetentionMs", compiled.idempotencyRetentionMs);
  positive("maxClaimPerRound", compiled.maxClaimPerRound);
  positive("leaderTtlMs", compiled.leaderTtlMs, compiled.heartbeatIntervalMs * 2);
  positive("retentionMs", compiled.retentionMs, 60_000);
  positive("pollIntervalMs", compiled.pollIntervalMs, 10);
  if (compiled.store !== "" && !/^(sqlite:|postgres(ql)?:\/\/)/.test(compiled.store)) {
    throw OrchestratorError.invalidArgument(`store must be sqlite:<path> or postgres://user@host:5432/database, got "${compiled.store}"`);
  }
  if (compiled.schedulerId === "") compiled.schedulerId = compiled.port === 0 ? `${hostname()}:${randomUUID()}` : `${hostname()}:${compiled.port}`;
  if (!(compiled.dispatchIdleMs >= 0)) throw OrchestratorError.invalidArgument(`dispatchIdleMs must be a number of at least 0, got ${compiled.dispatchIdleMs}`);
  if (compiled.sqliteSynchronous !== "full" && compiled.sqliteSynchronous !== "normal") {
    throw OrchestratorError.invalidArgument(`sqliteSynchronous must be "full" or "normal", got ${String(compiled.sqliteSynchronous)}`);
  }
  return compiled;
}

export function databasePath(dataDir: string): string {
  return join(dataDir, "orchestrator.db");
}
