import { randomBytes } from "node:crypto";
import { Command, Option } from "commander";
import type { startGatewayService } from "../gateway/service.js";
import type { startSchedulerService } from "../scheduler/service.js";
import type { startWorkerService } from "../worker/service.js";
import { createLogger, OrchestratorError, readSettingFile, workerDefaults, type Logger, type LogLevel } from "orchestrator-ts-client/internal";
import { stopOnSignals, type RunningService } from "../util/service.js";
import { startTracing, withTracing } from "../tracing/setup.js";
import type { SqliteSynchronous } from "../store/sqlite/sqlite-store.js";
import { KeyRing, presentedKey } from "../util/auth.js";
import { isListenFailure, routeGrpcJsLogs } from "../util/grpc-server.js";
import { limits } from "../scheduler/limits.js";
import { schedulerDefaults } from "../scheduler/options.js";
import { gatewayDefaults } from "../gateway/options.js";
import { workerServiceDefaults } from "../worker/options.js";
import {
  dataDirOption, duration, envFlag, handlersOption, hostOption, httpPortOption, integer, listenerSecurity, listenerSecurityOptions, logLevelOption, port, portOption,
  schedulerAddressOption, schedulerTls, schedulerTlsOptions, slotsOption, prefetchOption, syncOption, type ListenerFlags, type SchedulerTlsFlags,
} from "./options.js";

interface SchedulerFlags extends ListenerFlags {
  host: string; port: number; httpPort?: number; dataDir: string; logLevel: LogLevel; sqliteSynchronous: SqliteSynchronous; workerTimeoutMs: number;
  heartbeatMs: number; leaseMs: number; deadlineGraceMs: number; retryBackoffMs: number; maxWaitingTasks: number; idempotencyRetentionMs: number;
  store?: string; storePasswordFile?: string; retention: number; schedulerId?: string; pollMs: number; pollOnly?: boolean;
}
interface WorkerFlags extends ListenerFlags, SchedulerTlsFlags {
  host: string; port: number; httpPort?: number; scheduler: string; slots: number; prefetch: number; handlers?: string; workerId?: string; examples: boolean; shutdownGraceMs: number; logLevel: LogLevel;
  workerKeyFile?: string;
}
interface GatewayFlags extends ListenerFlags, SchedulerTlsFlags { host: string; port: number; httpPort?: number; scheduler: string; logLevel: LogLevel; gatewayKeyFile?: string; maxSubscribers?: number }

// Each command loads only what it runs (dynamic imports): a Worker or Gateway process never loads
// the Scheduler, the store or better-sqlite3, and --help loads none of them. This keeps the idle
// memory of each service process down.
const startScheduler: typeof startSchedulerService = async (...args) => {
  const { startSchedulerService } = await import("../scheduler/service.js");
  return startSchedulerService(...args);
};
const startWorker: typeof startWorkerService = async (...args) => {
  const { startWorkerService } = await import("../worker/service.js");
  return startWorkerService(...args);
};
const startGateway: typeof startGatewayService = async (...args) => {
  const { startGatewayService } = await import("../gateway/service.js");
  return startGatewayService(...args);
};

/** The service's logger, which also carries grpc-js's own log lines (see routeGrpcJsLogs). */
function serviceLogger(level: LogLevel, service: string): Logger {
  const logger = createLogger({ level, service });
  routeGrpcJsLogs(logger);
  return logger;
}

/**
 * A port in use is the first thing a second `orchestrator dev` meets: the error names the address
 * (startGrpcServer) and, here, the flag and variable that choose another port for this command.
 */
async function listening<T>(start: Promise<T>, portChoice: string): Promise<T> {
  try {
    return await start;
  } catch (reason) {
    const error = OrchestratorError.from(reason);
    if (!isListenFailure(error)) throw error;
    throw new OrchestratorError(error.code, `${error.rawMessage}; choose another port with ${portChoice}`, { cause: error });
  }
}

// Defaults come from schedulerDefaults, where each is written once.
function schedulerTuning(command: Command): Command {
  const d = schedulerDefaults;
  return command
    .addOption(new Option("--store <url>", `where tasks are kept: sqlite:<path> (default: orchestrator.db in --data-dir) or postgres://user@host:5432/db[?schema=name], shared by several Schedulers`).env("ORCHESTRATOR_STORE"))
    .addOption(new Option("--store-password-file <path>", "PostgreSQL: file holding the password of the --store user (a mounted secret), so that the URL carries none").env("ORCHESTRATOR_STORE_PASSWORD_FILE"))
    .addOption(new Option("--retention <duration>", "finished tasks and their events are deleted after this long (e.g. 7d, 12h, 30m)").env("ORCHESTRATOR_RETENTION").default(d.retentionMs, "7d").argParser(duration))
    .addOption(new Option("--scheduler-id <id>", "this Scheduler's name in the store's maintenance leadership (default host:port)").env("ORCHESTRATOR_SCHEDULER_ID"))
    .addOption(new Option("--poll-ms <ms>", "PostgreSQL: how often to look for work and events without a NOTIFY").env("ORCHESTRATOR_POLL_MS").default(d.pollIntervalMs).argParser(integer))
    .addOption(new Option("--poll-only", "PostgreSQL: no LISTEN/NOTIFY, only the poll (behind a pooler that cannot LISTEN)").env("ORCHESTRATOR_POLL_ONLY"))
    .addOption(new Option("--heartbeat-ms <ms>", "how often workers must report").env("ORCHESTRATOR_HEARTBEAT_MS").default(d.heartbeatIntervalMs).argParser(integer))
    .addOption(new Option("--worker-timeout-ms <ms>", "silence after which a worker is presumed dead").env("ORCHESTRATOR_WORKER_TIMEOUT_MS").default(d.workerTimeoutMs).argParser(integer))
    .addOption(new Option("--lease-ms <ms>", "lease of a running attempt in the store").env("ORCHESTRATOR_LEASE_MS").default(d.leaseMs).argParser(integer))
    .addOption(new Option("--deadline-grace-ms <ms>", "added to a task's timeout before an attempt its worker did not end is failed; half of it is how long a worker may hold a claimed-ahead task").env("ORCHESTRATOR_DEADLINE_GRACE_MS").default(d.deadlineGraceMs).argParser(integer))
    .addOption(new Option("--retry-backoff-ms <ms>", "default first retry delay").env("ORCHESTRATOR_RETRY_BACKOFF_MS").default(d.defaultRetryBackoffMs).argParser(integer))
    .addOption(new Option("--max-waiting-tasks <n>", "queued + retrying tasks beyond which submits get RESOURCE_EXHAUSTED").env("ORCHESTRATOR_MAX_WAITING_TASKS").default(d.maxWaitingTasks).argParser(integer))
    .addOption(new Option("--idempotency-retention-ms <ms>", "how long an idempotency key keeps answering with its task").env("ORCHESTRATOR_IDEMPOTENCY_RETENTION_MS").default(d.idempotencyRetentionMs).argParser(integer));
}

/** The store URL with the password read from --store-password-file, percent-encoded into it. */
function withPasswordFile(store: string, file: string | undefined): string {
  if (file === undefined) return store;
  if (!/^postgres(ql)?:\/\//.test(store)) throw OrchestratorError.invalidArgument("--store-password-file (or ORCHESTRATOR_STORE_PASSWORD_FILE) is for a postgres:// --store");
  const password = readSettingFile(file, "--store-password-file (or ORCHESTRATOR_STORE_PASSWORD_FILE)", "--store-password-file takes the path of a file that holds the password").toString("utf8").trim();
  const url = new URL(store);
  url.password = encodeURIComponent(password);
  return url.toString();
}

function schedulerOptions(flags: SchedulerFlags) {
  return {
    host: flags.host, port: flags.port, httpPort: flags.httpPort, dataDir: flags.dataDir, logLevel: flags.logLevel, sqliteSynchronous: flags.sqliteSynchronous,
    heartbeatIntervalMs: flags.heartbeatMs, workerTimeoutMs: flags.workerTimeoutMs, leaseMs: flags.leaseMs, deadlineGraceMs: flags.deadlineGraceMs, defaultRetryBackoffMs: flags.retryBackoffMs,
    maxWaitingTasks: flags.maxWaitingTasks, idempotencyRetentionMs: flags.idempotencyRetentionMs, security: listenerSecurity(flags),
    store: withPasswordFile(flags.store ?? "", flags.storePasswordFile), retentionMs: flags.retention, schedulerId: flags.schedulerId ?? "", pollIntervalMs: flags.pollMs, pollOnly: flags.pollOnly === true,
  };
}

function workerOptions(flags: WorkerFlags) {
  return {
    host: flags.host, port: flags.port, httpPort: flags.httpPort, schedulerAddress: flags.scheduler, slots: flags.slots, prefetch: flags.prefetch, handlersModule: flags.handlers,
    workerId: flags.workerId, examples: flags.examples && !envFlag(process.env.ORCHESTRATOR_NO_EXAMPLES), shutdownGraceMs: flags.shutdownGraceMs, logLevel: flags.logLevel,
    security: listenerSecurity(flags), schedulerTls: schedulerTls(flags),
  };
}

function gatewayOptions(flags: GatewayFlags) {
  return {
    host: flags.host, port: flags.port, httpPort: flags.httpPort, schedulerAddress: flags.scheduler, logLevel: flags.logLevel, maxSubscribers: flags.maxSubscribers,
    security: listenerSecurity(flags), schedulerTls: schedulerTls(flags),
  };
}

function workerFlags(command: Command): Command {
  return schedulerTlsOptions(command.addOption(schedulerAddressOption()))
    .addOption(slotsOption())
    .addOption(prefetchOption())
    .addOption(handlersOption())
    .addOption(new Option("--worker-id <id>", "stable id of this worker (default host-pid-random)").env("ORCHESTRATOR_WORKER_ID"))
    .option("--no-examples", "do not serve the bundled example handlers (or ORCHESTRATOR_NO_EXAMPLES=1)")
    .addOption(new Option("--shutdown-grace-ms <ms>", "on stop, how long running tasks may finish before they are handed back").env("ORCHESTRATOR_SHUTDOWN_GRACE_MS").default(workerDefaults.shutdownGraceMs).argParser(integer));
}

interface DevPorts {
  gatewayPort: number; schedulerPort: number; workerPort: number; gatewayHttpPort?: number; schedulerHttpPort?: number; workerHttpPort?: number;
}

export function serviceCommands(): Command[] {
  const scheduler = schedulerTuning(
    new Command("scheduler")
      .description("run the Scheduler: keeps task state in the store (embedded SQLite, or a PostgreSQL shared by several Schedulers), hands tasks to workers")
      .addOption(hostOption()).addOption(portOption("scheduler", schedulerDefaults.port)).addOption(httpPortOption()).addOption(dataDirOption()).addOption(syncOption()).addOption(logLevelOption()),
  );
  listenerSecurityOptions(scheduler).action(async (flags: SchedulerFlags) => {
    const logger = serviceLogger(flags.logLevel, "scheduler");
    const tracing = await startTracing("orchestrator-scheduler", logger);
    stopOnSignals([withTracing(await listening(startScheduler(schedulerOptions(flags), { logger }), "--port or ORCHESTRATOR_SCHEDULER_PORT"), tracing)]);
  });

  const worker = listenerSecurityOptions(workerFlags(
    new Command("worker")
      .description("run a Worker: connects to the Scheduler and runs task handlers")
      .addOption(hostOption()).addOption(portOption("worker", workerServiceDefaults.port)).addOption(httpPortOption()).addOption(logLevelOption()),
  ))
    .addOption(new Option("--worker-key-file <path>", "file holding this worker's key (role worker) for the Scheduler; also ORCHESTRATOR_WORKER_KEY").env("ORCHESTRATOR_WORKER_KEY_FILE"))
    .action(async (flags: WorkerFlags) => {
      const apiKey = presentedKey(flags.workerKeyFile, process.env.ORCHESTRATOR_WORKER_KEY, {
        fileFlag: "--worker-key-file", fileVariable: "ORCHESTRATOR_WORKER_KEY_FILE", keyVariable: "ORCHESTRATOR_WORKER_KEY",
      });
      const logger = serviceLogger(flags.logLevel, "worker");
      const tracing = await startTracing("orchestrator-worker", logger);
      stopOnSignals([withTracing(await listening(startWorker({ ...workerOptions(flags), apiKey }, { logger }), "--port or ORCHESTRATOR_WORKER_PORT"), tracing)]);
    });

  const gateway = schedulerTlsOptions(listenerSecurityOptions(new Command("gateway")
    .description("run the Gateway: the public gRPC front door for clients")
    .addOption(hostOption()).addOption(portOption("gateway", gatewayDefaults.port)).addOption(httpPortOption()).addOption(schedulerAddressOption()).addOption(logLevelOption())))
    .addOption(new Option("--gateway-key-file <path>", "file holding the Gateway's key (role gateway) for the Scheduler; also ORCHESTRATOR_GATEWAY_KEY").env("ORCHESTRATOR_GATEWAY_KEY_FILE"))
    .addOption(new Option("--max-subscribers <n>", "SubscribeProgress streams of all clients together beyond which new ones get RESOURCE_EXHAUSTED").env("ORCHESTRATOR_MAX_SUBSCRIBERS").default(limits.subscribersPerGateway).argParser(integer))
    .action(async (flags: GatewayFlags) => {
      const schedulerApiKey = presentedKey(flags.gatewayKeyFile, process.env.ORCHESTRATOR_GATEWAY_KEY, {
        fileFlag: "--gateway-key-file", fileVariable: "ORCHESTRATOR_GATEWAY_KEY_FILE", keyVariable: "ORCHESTRATOR_GATEWAY_KEY",
      });
      const logger = serviceLogger(flags.logLevel, "gateway");
      const tracing = await startTracing("orchestrator-gateway", logger);
      stopOnSignals([withTracing(await listening(startGateway({ ...gatewayOptions(flags), schedulerApiKey }, { logger }), "--port or ORCHESTRATOR_GATEWAY_PORT"), tracing)]);
    });

  const dev = listenerSecurityOptions(schedulerTuning(workerFlags(
    new Command("dev")
      .description("run Scheduler, Worker and Gateway together in one process on the embedded store")
      .addOption(hostOption()).addOption(dataDirOption()).addOption(syncOption()).addOption(logLevelOption())
      .addOption(new Option("--gateway-port <port>", "port of the gateway").env("ORCHESTRATOR_GATEWAY_PORT").default(gatewayDefaults.port).argParser(port))
      .addOption(new Option("--scheduler-port <port>", "port of the scheduler").env("ORCHESTRATOR_SCHEDULER_PORT").default(schedulerDefaults.port).argParser(port))
      .addOption(new Option("--worker-port <port>", "port of the worker").env("ORCHESTRATOR_WORKER_PORT").default(workerServiceDefaults.port).argParser(port))
      // One HTTP listener per service, as when they run apart; each off unless asked for.
      .addOption(new Option("--scheduler-http-port <port>", "port of the Scheduler's HTTP listener (/metrics, /healthz, /readyz); default: none").argParser(port))
      .addOption(new Option("--gateway-http-port <port>", "port of the Gateway's HTTP listener (/metrics, /healthz, /readyz); default: none").argParser(port))
      .addOption(new Option("--worker-http-port <port>", "port of the Worker's HTTP listener (/metrics, /healthz, /readyz); default: none").argParser(port)),
  )));
  dev.action(async (flags: SchedulerFlags & WorkerFlags & DevPorts) => {
    const logger = createLogger({ level: flags.logLevel });
    routeGrpcJsLogs(logger);
    // One process, one tracer provider: the three services' spans share one service.name.
    const tracing = await startTracing("orchestrator-dev", logger);
    const started: RunningService[] = [];
    // With keys configured, the in-process Worker and Gateway get keys of their own, made for this run.
    const security = listenerSecurity(flags);
    const internal = KeyRing.load(security).enabled ? { worker: randomBytes(32).toString("hex"), gateway: randomBytes(32).toString("hex") } : undefined;
    const schedulerSecurity = internal ? { ...security, keys: [security.keys, `worker:${internal.worker}`, `gateway:${internal.gateway}`].filter(Boolean).join(",") } : security;
    try {
      const scheduler = await listening(
        startScheduler({ ...schedulerOptions(flags), port: flags.schedulerPort, httpPort: flags.schedulerHttpPort, security: schedulerSecurity }, { logger: logger.child({ service: "scheduler" }) }),
        "--scheduler-port or ORCHESTRATOR_SCHEDULER_PORT",
      );
      started.push(scheduler);
      const schedulerAddress = `${flags.host}:${scheduler.address.split(":").at(-1)}`;
      started.push(await listening(
        startWorker({ ...workerOptions(flags), port: flags.workerPort, httpPort: flags.workerHttpPort, schedulerAddress, apiKey: internal?.worker }, { logger: logger.child({ service: "worker" }) }),
        "--worker-port or ORCHESTRATOR_WORKER_PORT",
      ));
      started.push(await listening(
        startGateway({ ...gatewayOptions({ ...flags, port: flags.gatewayPort, httpPort: flags.gatewayHttpPort, scheduler: schedulerAddress }), schedulerApiKey: internal?.gateway }, { logger: logger.child({ service: "gateway" }) }),
        "--gateway-port or ORCHESTRATOR_GATEWAY_PORT",
      ));
    } catch (error) {
      for (const service of started.reverse()) await service.stop();
      await tracing?.shutdown();
      throw error;
    }
    // Stop the front door first and the owner of state last (whose stop also ends the tracing).
    const [scheduler, ...others] = started;
    stopOnSignals(scheduler ? [...others.reverse(), withTracing(scheduler, tracing)] : []);
  });

  return [dev, scheduler, worker, gateway];
}
