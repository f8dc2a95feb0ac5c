import { ServerInterceptingCall, status as grpcStatus, type ServerInterceptor } from "@grpc/grpc-js";
import { Counter, type Registry } from "prom-client";

/**
 * Counts every call the Gateway answers, by method and status code, as a grpc-js server interceptor
 * placed inside the key check (util/auth.ts), so a refused call is counted with its refusal
 * (UNAUTHENTICATED, PERMISSION_DENIED). The methods are those the server registered: a bounded set.
 */
export function gatewayRequestCounter(registry: Registry): ServerInterceptor {
  const requests = new Counter({
    name: "orchestrator_gateway_requests_total", labelNames: ["method", "code"] as const, registers: [registry],
    help: "Calls this Gateway answered, by method (service/Method) and gRPC status code name.",
  });
  return (method, call) => {
    const path = method.path.slice(1);
    return new ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        requests.labels(path, grpcStatus[status.code] ?? String(status.code)).inc();
        next(status);
      },
    });
  };
}
