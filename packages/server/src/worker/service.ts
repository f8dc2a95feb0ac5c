import { WorkerService } from "orchestrator-ts-client/internal";
import { version } from "orchestrator-ts-client/internal";
import { listenerSecurity, startGrpcServer, type ListenerSecurityOptions } from "../util/grpc-server.js";
import type { ClientTlsOptions } from "orchestrator-ts-client/internal";
import { unary } from "../util/grpc-handlers.js";
import { createLogger, type Logger, type LogLevel } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { exampleHandlers } from "./examples.js";
import { loadHandlerModule } from "./handler-module.js";
import { workerServiceDefaults } from "./options.js";
import { Worker, type SchedulerAddressList } from "orchestrator-ts-client/internal";
import { startHttpEndpoint, type HttpEndpoint } from "../metrics/http-endpoint.js";
import { createRegistry } from "../metrics/registry.js";
import { observeWorkerAttempts } from "../metrics/worker-metrics.js";
import { checkHttpPort } from "../util/options.js";

export interface WorkerServiceOptions {
  host?: string;
  port?: number;
  /** Port of the HTTP listener (/metrics, /healthz, /readyz) on `host`; null: none. */
  httpPort?: number | null;
  /** host:port of the Scheduler, or several as a comma-separated list or an array (see WorkerOptions). */
  schedulerAddress?: SchedulerAddressList;
  slots?: number;
  /** Claim-ahead (see WorkerOptions.prefetch). */
  prefetch?: number;
  workerId?: string;
  /** Path of a module exporting more handlers; they override examples of the same name (with a warning). */
  handlersModule?: string;
  /** false serves only the handlers of handlersModule. */
  examples?: boolean;
  shutdownGraceMs?: number;
  logLevel?: LogLevel;
  /** The worker's key (role worker) for the Scheduler. */
  apiKey?: string;
  /** TLS to the Scheduler (client certificate for mutual TLS). */
  schedulerTls?: ClientTlsOptions;
  /** Keys and TLS of the Worker service's own listener. */
  security?: ListenerSecurityOptions;
}

/** The bundled worker process: the runtime plus its own Worker service (health and status). */
export async function startWorkerService(options: WorkerServiceOptions, deps: { logger?: Logger } = {}): Promise<RunningService & { runtime: Worker; httpAddress: string | null }> {
  const logger = deps.logger ?? createLogger({ level: options.logLevel ?? "info", service: "worker" });
  const host = options.host ?? workerServiceDefaults.host;
  const httpPort = checkHttpPort(options.httpPort ?? workerServiceDefaults.httpPort);
  const security = listenerSecurity("orchestrator.v1.Worker", host, options.security);
  const extra = options.handlersModule ? await loadHandlerModule(options.handlersModule) : {};
  const examples = options.examples === false ? {} : exampleHandlers;
  // A module's handler wins over the bundled example of the same name; said once, since a task
  // that quietly runs other code than the user expects is hard to trace back.
  for (const name of Object.keys(extra).filter((name) => Object.hasOwn(examples, name))) {
    logger.warn({ handler: name, module: options.handlersModule }, `Handler "${name}" of ${options.handlersModule} replaces the bundled example of that name (--no-examples serves only the module's handlers)`);
  }
  const handlers = { ...examples, ...extra };
  const runtime = new Worker({
    handlers, schedulerAddress: options.schedulerAddress, slots: options.slots, prefetch: options.prefetch, workerId: options.workerId, shutdownGraceMs: options.shutdownGraceMs,
    apiKey: options.apiKey, tls: options.schedulerTls,
  }, logger);
  const server = await startGrpcServer("orchestrator.v1.Worker", WorkerService, {
    healthCheck: unary(() => ({ healthy: true, version })),
    getStatus: unary(() => ({
      workerId: runtime.workerId, connected: runtime.state === "connected" || runtime.state === "draining",
      schedulerAddress: runtime.schedulerAddress, taskNames: Object.keys(handlers), slots: runtime.options.slots,
      running: runtime.runningAttempts().map((a) => ({ taskId: a.taskId, attempt: a.attempt, name: a.name, startedAtMs: a.startedAt })),
    })),
  }, host, options.port ?? workerServiceDefaults.port, { security, logger });
  let http: HttpEndpoint | null = null;
  let unobserve = (): void => undefined;
  if (httpPort !== null) {
    const registry = createRegistry();
    unobserve = observeWorkerAttempts(registry, runtime);
    try {
      http = await startHttpEndpoint({
        service: "Worker", host, port: httpPort, registry, keys: security.keys, logger,
        notReady: () => (runtime.state === "connected" ? null : `the worker is ${runtime.state}, not connected to a scheduler`),
      });
    } catch (error) {
      await server.shutdown(0);
      throw error;
    }
  }
  runtime.start();
  logger.info({ address: server.address, worker_id: runtime.workerId, task_names: Object.keys(handlers), slots: runtime.options.slots, ...server.security }, `Worker service listening on ${server.address}`);
  return {
    name: "Worker",
    address: server.address,
    logger,
    runtime,
    httpAddress: http?.address ?? null,
    stop: async () => {
      await runtime.stop();
      await server.shutdown(2000);
      await http?.close();
      unobserve();
      logger.info("Worker service stopped");
    },
  };
}
