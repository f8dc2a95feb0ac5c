import { dirname } from "node:path";
import { SchedulerService } from "orchestrator-ts-client/internal";
import { looseDirectoryWarning } from "../store/sqlite/data-files.js";
import { openStore, redactStoreUrl, storeKind } from "../store/open-store.js";
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
  const store = deps.store ?? await openConfiguredStore(compiled, clock, logger);
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
  const where = store instanceof SqliteStore ? { data_dir: compiled.dataDir, sqlite_driver: store.driver } : { store: redactStoreUrl(compiled.store) };
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

/** The store --store names: the embedded SQLite file (default: orchestrator.db in dataDir) or a PostgreSQL database that several Schedulers share. */
function openConfiguredStore(options: CompiledSchedulerOptions, clock: Clock, logger: Logger): Promise<TaskStore> {
  const url = options.store === "" ? `sqlite:${databasePath(options.dataDir)}` : options.store;
  if (storeKind(url) === "sqlite") {
    const directory = dirname(url.slice("sqlite:".length));
    const warning = looseDirectoryWarning(directory);
    if (warning) logger.warn({ data_dir: directory }, warning);
  }
  return openStore(url, {
    sqlite: { synchronous: options.sqliteSynchronous },
    postgres: {
      clock, pollIntervalMs: options.pollIntervalMs, listen: !options.pollOnly, applicationName: `orchestrator ${options.schedulerId}`,
      onBackgroundError: (error) => logger.warn({ err: error }, "PostgreSQL store: background work failed; retrying by itself"),
    },
  });
}
