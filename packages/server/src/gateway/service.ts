import { GatewayService } from "orchestrator-ts-client/internal";
import { listenerSecurity, startGrpcServer } from "../util/grpc-server.js";
import { createLogger, type Logger } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { Gateway } from "./gateway.js";
import { compileGatewayOptions, type GatewayOptions } from "./options.js";

export async function startGatewayService(options: GatewayOptions, deps: { logger?: Logger } = {}): Promise<RunningService> {
  const compiled = compileGatewayOptions(options);
  const logger = deps.logger ?? createLogger({ level: compiled.logLevel, service: "gateway" });
  const security = listenerSecurity("orchestrator.v1.Gateway", compiled.host, compiled.security);
  const gateway = new Gateway(compiled, logger);
  let server;
  try {
    server = await startGrpcServer("orchestrator.v1.Gateway", GatewayService, gateway.service(), compiled.host, compiled.port, { security, logger });
  } catch (error) {
    gateway.close();
    throw error;
  }
  logger.info({ address: server.address, scheduler: compiled.schedulerAddresses.join(","), ...server.security }, `Gateway service listening on ${server.address}`);
  return {
    name: "Gateway",
    address: server.address,
    logger,
    stop: async () => {
      await server.shutdown(2000);
      gateway.close();
      logger.info("Gateway service stopped");
    },
  };
}
