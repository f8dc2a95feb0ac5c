import { GatewayService } from "orchestrator-ts-client/internal";
import { listenerSecurity, startGrpcServer, type ServiceServer } from "../util/grpc-server.js";
import { createLogger, type Logger } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { Gateway } from "./gateway.js";
import { compileGatewayOptions, type GatewayOptions } from "./options.js";
import { gatewayRequestCounter } from "../metrics/gateway-metrics.js";
import { startHttpEndpoint, type HttpEndpoint } from "../metrics/http-endpoint.js";
import { createRegistry } from "../metrics/registry.js";
import { dashboardRoutes } from "../dashboard/routes.js";

export async function startGatewayService(options: GatewayOptions, deps: { logger?: Logger } = {}): Promise<RunningService & { httpAddress: string | null }> {
  const compiled = compileGatewayOptions(options);
  const logger = deps.logger ?? createLogger({ level: compiled.logLevel, service: "gateway" });
  const security = listenerSecurity("orchestrator.v1.Gateway", compiled.host, compiled.security);
  const gateway = new Gateway(compiled, logger, security.keys);
  const registry = compiled.httpPort === null ? null : createRegistry();
  let server: ServiceServer | undefined;
  let http: HttpEndpoint | null = null;
  try {
    const interceptors = registry === null ? [] : [gatewayRequestCounter(registry)];
    server = await startGrpcServer("orchestrator.v1.Gateway", GatewayService, gateway.service(), compiled.host, compiled.port, { security, logger, interceptors });
    if (registry !== null && compiled.httpPort !== null) {
      http = await startHttpEndpoint({
        service: "Gateway", host: compiled.host, port: compiled.httpPort, registry, keys: security.keys, logger, notReady: () => gateway.notReady(),
        routes: dashboardRoutes({ gateway, keys: security.keys, logger }),
      });
    }
  } catch (error) {
    await server?.shutdown(0);
    gateway.close();
    throw error;
  }
  const grpc = server;
  logger.info({ address: grpc.address, scheduler: compiled.schedulerAddresses.join(","), ...grpc.security }, `Gateway service listening on ${grpc.address}`);
  return {
    name: "Gateway",
    address: grpc.address,
    logger,
    httpAddress: http?.address ?? null,
    stop: async () => {
      await grpc.shutdown(2000);
      await http?.close();
      gateway.close();
      logger.info("Gateway service stopped");
    },
  };
}
