import { Command, Option } from "commander";
import { Metadata, makeGenericClientConstructor, status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { channelCredentials, Code, OrchestratorError } from "orchestrator-ts-client/internal";
import { clientSecurity, clientSecurityOptions, integer, type ClientSecurityFlags } from "./options.js";

interface HealthFlags extends ClientSecurityFlags {
  address: string;
  service: string;
  timeoutMs: number;
}

type HealthAnswer = { status?: string | number };
interface HealthClient {
  Check(request: { service: string }, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null, answer?: HealthAnswer) => void): void;
  close(): void;
}

/**
 * The standard gRPC health check (grpc.health.v1, open even when keys are configured), which
 * container health checks and Kubernetes gRPC probes ask: exit 0 when the service answers SERVING.
 * The address defaults from ORCHESTRATOR_HEALTH_ADDRESS so that one image's HEALTHCHECK serves
 * whichever service its container runs.
 */
export function healthCommand(): Command {
  const command = new Command("health")
    .description("ask a service's gRPC health check (grpc.health.v1) whether it is serving: exit 0 if it is, 1 if not (container health checks, scripts)")
    .addOption(new Option("--address <host:port>", "address of the Gateway, Scheduler or Worker").env("ORCHESTRATOR_HEALTH_ADDRESS").default("127.0.0.1:50051"))
    .option("--service <name>", "service to ask about, e.g. orchestrator.v1.Scheduler (default: the whole server)", "")
    .addOption(new Option("--timeout-ms <ms>", "how long to wait for the answer").default(3000).argParser(integer));
  for (const option of clientSecurityOptions()) command.addOption(option);
  return command.action(async (flags: HealthFlags) => {
    const { tls } = clientSecurity(flags);
    const { service } = await import("grpc-health-check");
    const Client = makeGenericClientConstructor(service, "Health") as unknown as new (address: string, credentials: ReturnType<typeof channelCredentials>) => HealthClient;
    const client = new Client(flags.address, channelCredentials(tls));
    try {
      const answer = await new Promise<HealthAnswer>((resolve, reject) => {
        client.Check({ service: flags.service }, new Metadata(), { deadline: Date.now() + flags.timeoutMs }, (error, reply) => (error ? reject(error) : resolve(reply ?? {})));
      });
      const state = String(answer.status ?? "UNKNOWN");
      process.stdout.write(`${state}\n`);
      if (state !== "SERVING") process.exitCode = 1;
    } catch (reason) {
      const error = reason as ServiceError;
      if (error.code === grpcStatus.NOT_FOUND) throw new OrchestratorError(Code.NotFound, `health check of ${flags.address}: ${error.details} (--service)`, { cause: error });
      const what = error.code === grpcStatus.DEADLINE_EXCEEDED ? `no answer within ${flags.timeoutMs} ms` : error.details || error.message;
      throw new OrchestratorError(Code.Unavailable, `health check of ${flags.address} failed: ${what} (is the service running there? --address or ORCHESTRATOR_HEALTH_ADDRESS)`, { cause: error });
    } finally {
      client.close();
    }
  });
}
