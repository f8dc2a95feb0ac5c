import { dirname } from "node:path";
import { SchedulerService } from "orchestrator-ts-client/internal";
import { looseDirectoryWarning } from "../store/sqlite/data-files.js";
import { SqliteStore } from "../store/sqlite/sqlite-store.js";
import type { TaskStore } from "../store/store.js";
import { systemClock, type Clock } from "../util/clock.js";
import { listenerSecurity, startGrpcServer, type ListenerSecurityOptions } from "../util/grpc-server.js";
import { createLogger, type Logger } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { schedulerGrpcService } from "./grpc.js";
import { compileSchedulerOptions, databasePath, type CompiledSchedulerOptions, type SchedulerOptions } from "./options.js";
import { Scheduler } from "./scheduler.js";

export interface SchedulerServiceDeps {
  clock?: Clock;
  logger?: Logger;
  store?: TaskStore;
}

export async function startSchedulerService(
  options: SchedulerOptions & { security?: ListenerSecurityOptions },
  deps: SchedulerServiceDeps = {},
): Promise<RunningService & { scheduler: Scheduler }> {
  const { security: securityOptions, ...schedulerOptions } = options;
  const compiled = compileSchedulerOptions(schedulerOptions);
  const logger = deps.logger ?? createLogger({ level: compiled.logLevel, service: "scheduler" });
  // Keys, TLS material and the safe default are checked before the store is opened.
  const security = listenerSecurity("orchestrator.v1.Scheduler", compiled.host, securityOptions);
  const clock = deps.clock ?? systemClock;
  const store = deps.store ?? await openStore(compiled, clock, logger);
  let scheduler: Scheduler;
  try {
    await store.migrate();
    scheduler = new Scheduler(store, compiled, clock, logger);
    await scheduler.start();
  } catch (error) {
    await store.close();
    throw error;
  }
  let server;
  try {
    server = await startGrpcServer("orchestrator.v1.Scheduler", SchedulerService, schedulerGrpcService(scheduler, logger), compiled.host, compiled.port, { security, logger });
  } catch (error) {
    await scheduler.stop();
    await store.close();
    throw error;
  }
  const where = store instanceof SqliteStore ? { data_dir: compiled.dataDir, sqlite_driver: store.driver } : { store: describeStore(compiled.store) };
  logger.info({ address: server.address, scheduler_id: compiled.schedulerId, ...where, ...server.security }, `Scheduler service listening on ${server.address}`);
  return {
    name: "Scheduler",
    address: server.address,
    logger,
    scheduler,
    stop: async () => {
      await scheduler.stop();
      await server.shutdown(2000);
      await store.close();
      logger.info("Scheduler service stopped");
    },
  };
}

/** The store --store names: the embedded SQLite file (default) or a PostgreSQL database that several Schedulers share. */
async function openStore(options: CompiledSchedulerOptions, clock: Clock, logger: Logger): Promise<TaskStore> {
  if (/^postgres(ql)?:\/\//.test(options.store)) {
    // Loaded only when asked for, so the embedded default never loads the pg driver.
    const { PostgresStore } = await import("../store/postgres/postgres-store.js");
    return new PostgresStore({ url: options.store, clock, pollIntervalMs: options.pollIntervalMs, listen: !options.pollOnly });
  }
  const path = options.store.startsWith("sqlite:") ? options.store.slice("sqlite:".length) : databasePath(options.dataDir);
  const warning = looseDirectoryWarning(dirname(path));
  if (warning) logger.warn({ data_dir: dirname(path) }, warning);
  return new SqliteStore({ path, synchronous: options.sqliteSynchronous });
}

/** The store URL for logs: a password in it is never printed. */
function describeStore(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/, "$1:***@");
}
