import { Command, Option } from "commander";
import { startGatewayService } from "../gateway/service.js";
import { startSchedulerService } from "../scheduler/service.js";
import { startWorkerService } from "../worker/service.js";
import { createLogger, type LogLevel } from "../util/logger.js";
import { stopOnSignals, type RunningService } from "../util/service.js";
import type { SqliteSynchronous } from "../store/sqlite/sqlite-store.js";
import {
  dataDirOption, handlersOption, hostOption, integer, logLevelOption, port, portOption, schedulerAddressOption, slotsOption, syncOption,
} from "./options.js";

interface SchedulerFlags {
  host: string; port: number; dataDir: string; logLevel: LogLevel; sqliteSynchronous: SqliteSynchronous; workerTimeoutMs: number;
  heartbeatMs: number; leaseMs: number; retryBackoffMs: number; maxWaitingTasks: number; idempotencyRetentionMs: number;
}
interface WorkerFlags { host: string; port: number; scheduler: string; slots: number; handlers?: string; workerId?: string; examples: boolean; shutdownGraceMs: number; logLevel: LogLevel }
interface GatewayFlags { host: string; port: number; scheduler: string; logLevel: LogLevel }

function schedulerTuning(command: Command): Command {
  return command
    .addOption(new Option("--heartbeat-ms <ms>", "how often workers must report").env("ORCHESTRATOR_HEARTBEAT_MS").default(1000).argParser(integer))
    .addOption(new Option("--worker-timeout-ms <ms>", "silence after which a worker is presumed dead").env("ORCHESTRATOR_WORKER_TIMEOUT_MS").default(5000).argParser(integer))
    .addOption(new Option("--lease-ms <ms>", "lease of a running attempt in the store").env("ORCHESTRATOR_LEASE_MS").default(5000).argParser(integer))
    .addOption(new Option("--retry-backoff-ms <ms>", "default first retry delay").env("ORCHESTRATOR_RETRY_BACKOFF_MS").default(1000).argParser(integer))
    .addOption(new Option("--max-waiting-tasks <n>", "queued + retrying tasks beyond which submits get RESOURCE_EXHAUSTED").env("ORCHESTRATOR_MAX_WAITING_TASKS").default(1_000_000).argParser(integer))
    .addOption(new Option("--idempotency-retention-ms <ms>", "how long an idempotency key keeps answering with its task").env("ORCHESTRATOR_IDEMPOTENCY_RETENTION_MS").default(86_400_000).argParser(integer));
}

function schedulerOptions(flags: SchedulerFlags) {
  return {
    host: flags.host, port: flags.port, dataDir: flags.dataDir, logLevel: flags.logLevel, sqliteSynchronous: flags.sqliteSynchronous,
    heartbeatIntervalMs: flags.heartbeatMs, workerTimeoutMs: flags.workerTimeoutMs, leaseMs: flags.leaseMs, defaultRetryBackoffMs: flags.retryBackoffMs,
    maxWaitingTasks: flags.maxWaitingTasks, idempotencyRetentionMs: flags.idempotencyRetentionMs,
  };
}

function workerOptions(flags: WorkerFlags) {
  return {
    host: flags.host, port: flags.port, schedulerAddress: flags.scheduler, slots: flags.slots, handlersModule: flags.handlers,
    workerId: flags.workerId, examples: flags.examples, shutdownGraceMs: flags.shutdownGraceMs, logLevel: flags.logLevel,
  };
}

function workerFlags(command: Command): Command {
  return command
    .addOption(schedulerAddressOption())
    .addOption(slotsOption())
    .addOption(handlersOption())
    .addOption(new Option("--worker-id <id>", "stable id of this worker (default host-pid-random)").env("ORCHESTRATOR_WORKER_ID"))
    .option("--no-examples", "do not serve the bundled example handlers")
    .addOption(new Option("--shutdown-grace-ms <ms>", "on stop, how long running tasks may finish before they are handed back").env("ORCHESTRATOR_SHUTDOWN_GRACE_MS").default(30_000).argParser(integer));
}

export function serviceCommands(): Command[] {
  const scheduler = schedulerTuning(
    new Command("scheduler")
      .description("run the Scheduler: owns task state in the embedded store, hands tasks to workers")
      .addOption(hostOption()).addOption(portOption("scheduler", 50052)).addOption(dataDirOption()).addOption(syncOption()).addOption(logLevelOption()),
  ).action(async (flags: SchedulerFlags) => {
    stopOnSignals([await startSchedulerService(schedulerOptions(flags))]);
  });

  const worker = workerFlags(
    new Command("worker")
      .description("run a Worker: connects to the Scheduler and runs task handlers")
      .addOption(hostOption()).addOption(portOption("worker", 50053)).addOption(logLevelOption()),
  ).action(async (flags: WorkerFlags) => {
    stopOnSignals([await startWorkerService(workerOptions(flags))]);
  });

  const gateway = new Command("gateway")
    .description("run the Gateway: the public gRPC front door for clients")
    .addOption(hostOption()).addOption(portOption("gateway", 50051)).addOption(schedulerAddressOption()).addOption(logLevelOption())
    .action(async (flags: GatewayFlags) => {
      stopOnSignals([await startGatewayService({ host: flags.host, port: flags.port, schedulerAddress: flags.scheduler, logLevel: flags.logLevel })]);
    });

  const dev = schedulerTuning(workerFlags(
    new Command("dev")
      .description("run Scheduler, Worker and Gateway together in one process on the embedded store")
      .addOption(hostOption()).addOption(dataDirOption()).addOption(syncOption()).addOption(logLevelOption())
      .addOption(new Option("--gateway-port <port>", "port of the gateway").env("ORCHESTRATOR_GATEWAY_PORT").default(50051).argParser(port))
      .addOption(new Option("--scheduler-port <port>", "port of the scheduler").env("ORCHESTRATOR_SCHEDULER_PORT").default(50052).argParser(port))
      .addOption(new Option("--worker-port <port>", "port of the worker").env("ORCHESTRATOR_WORKER_PORT").default(50053).argParser(port)),
  )).action(async (flags: SchedulerFlags & WorkerFlags & { gatewayPort: number; schedulerPort: number; workerPort: number }) => {
    const logger = createLogger({ level: flags.logLevel });
    const started: RunningService[] = [];
    try {
      const scheduler = await startSchedulerService({ ...schedulerOptions(flags), port: flags.schedulerPort }, { logger: logger.child({ service: "scheduler" }) });
      started.push(scheduler);
      const schedulerAddress = `${flags.host}:${scheduler.address.split(":").at(-1)}`;
      started.push(await startWorkerService({ ...workerOptions(flags), port: flags.workerPort, schedulerAddress }, { logger: logger.child({ service: "worker" }) }));
      started.push(await startGatewayService({ host: flags.host, port: flags.gatewayPort, schedulerAddress, logLevel: flags.logLevel }, { logger: logger.child({ service: "gateway" }) }));
    } catch (error) {
      for (const service of started.reverse()) await service.stop();
      throw error;
    }
    // Stop the front door first and the owner of state last.
    stopOnSignals([...started].reverse());
  });

  return [dev, scheduler, worker, gateway];
}
