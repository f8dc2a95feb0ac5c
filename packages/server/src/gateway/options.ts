import { OrchestratorError } from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import { checkHttpPort, withDefaults } from "../util/options.js";
import type { LogLevel } from "orchestrator-ts-client/internal";
import type { ListenerSecurityOptions } from "../util/grpc-server.js";
import { parseSchedulerAddresses, type ClientTlsOptions, type SchedulerAddressList } from "orchestrator-ts-client/internal";

export interface GatewayOptions {
  host?: string;
  port?: number;
  /** Port of the HTTP listener (/metrics, /healthz, /readyz) on `host`; null: none. */
  httpPort?: number | null;
  /**
   * host:port of the Scheduler, or of several (on one shared store) as a comma-separated list or an
   * array: calls and streams go to the connected ones, starting at a random one.
   */
  schedulerAddress?: SchedulerAddressList;
  logLevel?: LogLevel;
  /** Deadline of each call the Gateway forwards to the Scheduler. */
  forwardTimeoutMs?: number;
  /** SubscribeProgress streams of all clients together beyond which new ones get RESOURCE_EXHAUSTED. */
  maxSubscribers?: number;
  /** Key the Gateway presents to the Scheduler (role gateway): ORCHESTRATOR_GATEWAY_KEY, --gateway-key-file. */
  schedulerApiKey?: string;
  /** TLS to the Scheduler (--scheduler-ca, --scheduler-cert, --scheduler-key); unset: plaintext. */
  schedulerTls?: ClientTlsOptions;
  /** Keys and TLS of the Gateway's own listener. */
  security?: ListenerSecurityOptions;
}

type SecurityFields = "schedulerApiKey" | "schedulerTls" | "security";
export type CompiledGatewayOptions = Required<Omit<GatewayOptions, SecurityFields | "schedulerAddress">> & Pick<GatewayOptions, SecurityFields> & {
  /** The Schedulers, in the order given, each checked. */
  schedulerAddresses: readonly string[];
};

export const gatewayDefaults = {
  host: "127.0.0.1",
  port: 50051,
  httpPort: null,
  schedulerAddress: "127.0.0.1:50052",
  logLevel: "info",
  forwardTimeoutMs: 30_000,
  maxSubscribers: limits.subscribersPerGateway,
} as const satisfies Required<Omit<GatewayOptions, SecurityFields>>;

export function compileGatewayOptions(options: GatewayOptions): CompiledGatewayOptions {
  const { schedulerApiKey, schedulerTls, security, ...rest } = options;
  const { schedulerAddress, ...given } = withDefaults<Omit<GatewayOptions, SecurityFields>>(gatewayDefaults, rest);
  const compiled: CompiledGatewayOptions = { ...given, schedulerAddresses: parseSchedulerAddresses(schedulerAddress), schedulerApiKey, schedulerTls, security };
  checkHttpPort(compiled.httpPort);
  if (!Number.isInteger(compiled.forwardTimeoutMs) || compiled.forwardTimeoutMs < 1) {
    throw OrchestratorError.invalidArgument(`forwardTimeoutMs must be a positive integer, got ${compiled.forwardTimeoutMs}`);
  }
  if (!Number.isInteger(compiled.maxSubscribers) || compiled.maxSubscribers < 1) {
    throw OrchestratorError.invalidArgument(`maxSubscribers must be a positive integer, got ${compiled.maxSubscribers}`);
  }
  return compiled;
}
