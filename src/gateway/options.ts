import { OrchestratorError } from "../errors/orchestrator-error.js";
import { withDefaults } from "../util/options.js";
import type { LogLevel } from "../util/logger.js";

export interface GatewayOptions {
  host?: string;
  port?: number;
  /** host:port of the Scheduler. */
  schedulerAddress?: string;
  logLevel?: LogLevel;
  /** Deadline of each call the Gateway forwards to the Scheduler. */
  forwardTimeoutMs?: number;
}

export type CompiledGatewayOptions = Required<GatewayOptions>;

export const gatewayDefaults = {
  host: "127.0.0.1",
  port: 50051,
  schedulerAddress: "127.0.0.1:50052",
  logLevel: "info",
  forwardTimeoutMs: 30_000,
} as const satisfies CompiledGatewayOptions;

export function compileGatewayOptions(options: GatewayOptions): CompiledGatewayOptions {
  const compiled: CompiledGatewayOptions = withDefaults<GatewayOptions>(gatewayDefaults, options);
  if (!/^[^\s:]+:\d{1,5}$/.test(compiled.schedulerAddress)) {
    throw OrchestratorError.invalidArgument(`schedulerAddress must be host:port, got "${compiled.schedulerAddress}"`);
  }
  if (!Number.isInteger(compiled.forwardTimeoutMs) || compiled.forwardTimeoutMs < 1) {
    throw OrchestratorError.invalidArgument(`forwardTimeoutMs must be a positive integer, got ${compiled.forwardTimeoutMs}`);
  }
  return compiled;
}
