import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { OrchestratorError } from "../errors/orchestrator-error.js";
import { Code } from "../errors/code.js";
import { limits } from "../scheduler/limits.js";
import { fileDescriptorSetBase64 } from "../protocol/generated/descriptor-set.js";

let reflectionDefinition: ConstructorParameters<typeof ReflectionService>[0] | undefined;

/** The FileDescriptorProtos inside the generated FileDescriptorSet (field 1, repeated). */
function fileDescriptorProtos(): Buffer[] {
  const reader = new BinaryReader(Buffer.from(fileDescriptorSetBase64, "base64"));
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

/**
 * Server reflection lets grpcurl and `buf curl` call every method with no .proto at hand. It
 * serves the descriptor set built from proto/ (so json_name survives), plus grpc.health.v1.
 */
function reflection(): ReflectionService {
  reflectionDefinition ??= {
    descriptors: { format: "Protocol Buffer 3 FileDescriptorSet", type: {}, fileDescriptorProtos: fileDescriptorProtos() },
  } as unknown as ConstructorParameters<typeof ReflectionService>[0];
  return new ReflectionService(reflectionDefinition);
}

export interface ServiceServer {
  readonly address: string;
  readonly port: number;
  /** Stops accepting calls; ends what is still open after `graceMs`. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(
  serviceName: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  host: string,
  port: number,
): Promise<ServiceServer> {
  const server = new Server({
    "grpc.max_receive_message_length": limits.messageMaxBytes,
    "grpc.max_send_message_length": limits.messageMaxBytes,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.max_concurrent_streams": limits.concurrentStreamsPerConnection,
  });
  server.addService(definition, implementation);
  const health = new HealthImplementation({ "": "SERVING", [serviceName]: "SERVING" });
  health.addToServer(server);
  reflection().addToServer(server);
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(new OrchestratorError(Code.Unavailable, `cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
      else resolve(bound);
    });
  });
  return {
    address: `${host}:${boundPort}`,
    port: boundPort,
    shutdown: (graceMs = 5000) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(serviceName, "NOT_SERVING");
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
