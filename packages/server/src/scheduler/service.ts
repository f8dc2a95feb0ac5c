import { dirname } from "node:path";
import { SchedulerService } from "orchestrator-ts-client/internal";
import { looseDirectoryWarning } from "../store/sqlite/data-files.js";
import { openStore, redactStoreUrl, storeKind } from "../store/open-store.js";
import { SqliteStore } from "../store/sqlite/sqlite-store.js";
import type { TaskStore } from "../store/store.js";
import { systemClock, type Clock } from "../util/clock.js";
import { listenerSecurity, startGrpcServer, type ListenerSecurityOptions, type ServiceServer } from "../util/grpc-server.js";
import { createLogger, type Logger } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { schedulerGrpcService } from "./grpc.js";
import { compileSchedulerOptions, databasePath, type CompiledSchedulerOptions, type SchedulerOptions } from "./options.js";
import { Scheduler } from "./scheduler.js";
import { startHttpEndpoint, type HttpEndpoint } from "../metrics/http-endpoint.js";
import { createRegistry } from "../metrics/registry.js";
import { PrometheusSchedulerMetrics } from "../metrics/scheduler-metrics.js";
import { noSchedulerMetrics } from "./metrics.js";

export interface SchedulerServiceDeps {
  clock?: Clock;
  logger?: Logger;
  store?: TaskStore;
}

export async function startSchedulerService(
  options: SchedulerOptions & { security?: ListenerSecurityOptions },
  deps: SchedulerServiceDeps = {},
): Promise<RunningService & { scheduler: Scheduler; httpAddress: string | null }> {
  const { security: securityOptions, ...schedulerOptions } = options;
  const compiled = compileSchedulerOptions(schedulerOptions);
  const logger = deps.logger ?? createLogger({ level: compiled.logLevel, service: "scheduler" });
  // Keys, TLS material and the safe default are checked before the store is opened.
  const security = listenerSecurity("orchestrator.v1.Scheduler", compiled.host, securityOptions);
  const clock = deps.clock ?? systemClock;
  const store = deps.store ?? await openConfiguredStore(compiled, clock, logger);
  const registry = compiled.httpPort === null ? null : createRegistry();
  // Sources read at scrape time; the Scheduler they read is made just below.
  let scheduler: Scheduler | undefined;
  const metrics = registry === null ? null : new PrometheusSchedulerMetrics(registry, {
    workers: () => scheduler?.registry.all().map((session) => ({ slots: session.slots, running: session.inFlight.size, draining: session.draining })) ?? [],
    waitingByName: () => store.countWaitingByName(),
  }, logger);
  const unobserveCommits = metrics ? store.onCommit((durationMs) => metrics.storeCommitted(durationMs)) : () => undefined;
  try {
    await store.migrate();
    scheduler = new Scheduler(store, compiled, clock, logger, metrics ?? noSchedulerMetrics);
    await scheduler.start();
  } catch (error) {
    unobserveCommits();
    await store.close();
    throw error;
  }
  const running = scheduler;
  let server: ServiceServer | undefined;
  let http: HttpEndpoint | null = null;
  try {
    server = await startGrpcServer("orchestrator.v1.Scheduler", SchedulerService, schedulerGrpcService(running, logger, security.keys), compiled.host, compiled.port, { security, logger });
    if (registry !== null && compiled.httpPort !== null) {
      http = await startHttpEndpoint({
        service: "Scheduler", host: compiled.host, port: compiled.httpPort, registry, keys: security.keys, logger,
        notReady: () => (running.state === "running" ? null : `the scheduler is ${running.state}`),
      });
    }
  } catch (error) {
    await running.stop();
    await server?.shutdown(0);
    unobserveCommits();
    await store.close();
    throw error;
  }
  const grpc = server;
  const where = store instanceof SqliteStore ? { data_dir: compiled.dataDir, sqlite_driver: store.driver } : { store: redactStoreUrl(compiled.store) };
  logger.info({ address: grpc.address, scheduler_id: compiled.schedulerId, ...where, ...grpc.security }, `Scheduler service listening on ${grpc.address}`);
  return {
    name: "Scheduler",
    address: grpc.address,
    logger,
    scheduler: running,
    httpAddress: http?.address ?? null,
    stop: async () => {
      // Not ready from here on; scrapes still answer until the store closes.
      await running.stop();
      await grpc.shutdown(2000);
      await http?.close();
      unobserveCommits();
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
