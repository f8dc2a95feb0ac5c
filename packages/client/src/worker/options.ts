import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { OrchestratorError } from "../errors/orchestrator-error.js";
import type { HandlerMap } from "./handler.js";
import type { ClientTlsOptions } from "../transport/tls.js";
import type { ChannelOptions } from "@grpc/grpc-js";
import { parseSchedulerAddresses, type SchedulerAddressList } from "../transport/scheduler-addresses.js";

export interface WorkerOptions {
  /**
   * host:port of the Scheduler, or of several (on one shared store) as a comma-separated list or an
   * array: the worker connects to one, starting at a random one, and moves to the next when it fails.
   */
  schedulerAddress?: SchedulerAddressList;
  handlers: HandlerMap;
  /** Tasks run at once, 1-10,000. */
  slots?: number;
  /**
   * Claim-ahead, 0-10,000 (default 0): tasks the worker may hold beyond its free slots, each started
   * as a slot frees, so a freed slot does not wait for a round trip to the Scheduler. Worth it for
   * many short tasks; a held task's timeout starts when it starts, and one not started within the
   * Scheduler's hold limit (half its deadline grace, 1 s by default) is handed back for another worker.
   */
  prefetch?: number;
  workerId?: string;
  /** On stop, how long running tasks may finish before they are handed back. */
  shutdownGraceMs?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** The worker's key (role worker), sent to the Scheduler: ORCHESTRATOR_WORKER_KEY, --worker-key-file. */
  apiKey?: string;
  /** TLS to the Scheduler; with cert and key, a client certificate for mutual TLS. Unset: plaintext. */
  tls?: ClientTlsOptions;
  /** Extra grpc-js channel options, e.g. { "grpc.use_local_subchannel_pool": 1 } for a connection of its own. */
  channelOptions?: ChannelOptions;
}

type OptionalFields = "apiKey" | "tls" | "channelOptions";
export type CompiledWorkerOptions = Required<Omit<WorkerOptions, OptionalFields | "schedulerAddress">> & Pick<WorkerOptions, OptionalFields> & {
  /** The Schedulers, in the order given, each checked. */
  schedulerAddresses: readonly string[];
};

export function defaultWorkerId(): string {
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, "-")}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** Each default of a worker, written once; the CLI's --help reads them from here. */
export const workerDefaults = {
  schedulerAddress: "127.0.0.1:50052",
  slots: 10,
  prefetch: 0,
  shutdownGraceMs: 30_000,
  reconnectInitialMs: 100,
  reconnectMaxMs: 2_000,
} as const;

export function compileWorkerOptions(options: WorkerOptions): CompiledWorkerOptions {
  const names = Object.keys(options.handlers);
  if (names.length === 0) throw OrchestratorError.invalidArgument("handlers is empty: give at least one { name: async (ctx) => result }");
  for (const [name, handler] of Object.entries(options.handlers)) {
    if (typeof handler !== "function") throw OrchestratorError.invalidArgument(`handler "${name}" is not a function`);
  }
  const compiled: CompiledWorkerOptions = {
    schedulerAddresses: parseSchedulerAddresses(options.schedulerAddress ?? workerDefaults.schedulerAddress),
    handlers: options.handlers,
    slots: options.slots ?? workerDefaults.slots,
    prefetch: options.prefetch ?? workerDefaults.prefetch,
    workerId: options.workerId ?? defaultWorkerId(),
    shutdownGraceMs: options.shutdownGraceMs ?? workerDefaults.shutdownGraceMs,
    reconnectInitialMs: options.reconnectInitialMs ?? workerDefaults.reconnectInitialMs,
    reconnectMaxMs: options.reconnectMaxMs ?? workerDefaults.reconnectMaxMs,
    apiKey: options.apiKey,
    tls: options.tls,
    channelOptions: options.channelOptions,
  };
  if (!Number.isInteger(compiled.slots) || compiled.slots < 1 || compiled.slots > 10_000) {
    throw OrchestratorError.invalidArgument(`slots must be between 1 and 10000, got ${compiled.slots}`);
  }
  if (!Number.isInteger(compiled.prefetch) || compiled.prefetch < 0 || compiled.prefetch > 10_000) {
    throw OrchestratorError.invalidArgument(`prefetch must be between 0 and 10000, got ${compiled.prefetch}`);
  }
  if (!Number.isInteger(compiled.shutdownGraceMs) || compiled.shutdownGraceMs < 0) {
    throw OrchestratorError.invalidArgument(`shutdownGraceMs must be a non-negative integer, got ${compiled.shutdownGraceMs}`);
  }
  return compiled;
}
