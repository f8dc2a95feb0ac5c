import { SchedulerService } from "orchestrator-ts-client/internal";
import { looseDirectoryWarning } from "../store/sqlite/data-files.js";
import { SqliteStore } from "../store/sqlite/sqlite-store.js";
import type { TaskStore } from "../store/store.js";
import { systemClock, type Clock } from "../util/clock.js";
import { listenerSecurity, startGrpcServer, type ListenerSecurityOptions } from "../util/grpc-server.js";
import { createLogger, type Logger } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { schedulerGrpcService } from "./grpc.js";
import { compileSchedulerOptions, databasePath, type SchedulerOptions } from "./options.js";
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
  const store = deps.store ?? new SqliteStore({ path: databasePath(compiled.dataDir), synchronous: compiled.sqliteSynchronous });
  if (!deps.store) {
    const warning = looseDirectoryWarning(compiled.dataDir);
    if (warning) logger.warn({ data_dir: compiled.dataDir }, warning);
  }
  await store.migrate();
  const scheduler = new Scheduler(store, compiled, deps.clock ?? systemClock, logger);
  await scheduler.start();
  let server;
  try {
    server = await startGrpcServer("orchestrator.v1.Scheduler", SchedulerService, schedulerGrpcService(scheduler, logger), compiled.host, compiled.port, { security, logger });
  } catch (error) {
    await scheduler.stop();
    await store.close();
    throw error;
  }
  const sqliteDriver = store instanceof SqliteStore ? { sqlite_driver: store.driver } : {};
  logger.info({ address: server.address, data_dir: compiled.dataDir, ...sqliteDriver, ...server.security }, `Scheduler service listening on ${server.address}`);
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
