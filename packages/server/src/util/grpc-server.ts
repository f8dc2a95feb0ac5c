import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { setLogger, type ServerCredentials, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { Code } from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import { fileDescriptorSetBase64 } from "orchestrator-ts-client/internal";
import { assertSafeExposure, GuardedServer, isLoopbackHost, KeyRing } from "./auth.js";
import { addLazyReflection, LazyHealth, type ReflectionPackage } from "./lazy-grpc-services.js";
import type { Logger } from "orchestrator-ts-client/internal";
import { serverCredentials, serverTlsEnabled, type ServerTlsOptions } from "orchestrator-ts-client/internal";

let reflectionDefinition: ReflectionPackage | undefined;

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
 * serves the descriptor set built from proto/ (so json_name survives), plus grpc.health.v1 and
 * grpc.reflection (v1, v1alpha).
 * Decoded on the first reflection call (see lazy-grpc-services.ts).
 */
function reflected(): ReflectionPackage {
  reflectionDefinition ??= {
    descriptors: { format: "Protocol Buffer 3 FileDescriptorSet", type: {}, fileDescriptorProtos: fileDescriptorProtos() },
  } as unknown as ReflectionPackage;
  return reflectionDefinition;
}

/** How a service's listener is protected; every field is optional (zero-config on loopback). */
export interface ListenerSecurityOptions {
  /** Accepted keys, "role:key,role:key" (ORCHESTRATOR_KEYS). */
  keys?: string;
  /** File of accepted keys, one "role key" per line, # comments (--keys-file, ORCHESTRATOR_KEYS_FILE). */
  keysFile?: string;
  /** TLS of the listener; with clientCa, mutual TLS. */
  tls?: ServerTlsOptions;
  /** Allow a non-loopback address without keys (--insecure, ORCHESTRATOR_INSECURE=1). */
  insecure?: boolean;
}

/** The listener's security, loaded and checked before a service opens anything. */
export interface ListenerSecurity {
  readonly keys: KeyRing;
  readonly credentials: ServerCredentials;
  /** "off", "tls", or "mutual" (client certificates required). */
  readonly tls: "off" | "tls" | "mutual";
}

/**
 * Loads keys and TLS material and applies the safe default (no non-loopback listener without keys
 * unless insecure). Throws with a message that says what to fix; never includes a key.
 */
export function listenerSecurity(serviceName: string, host: string, options: ListenerSecurityOptions = {}): ListenerSecurity {
  const keys = KeyRing.load(options);
  assertSafeExposure(serviceName, host, keys, options.insecure === true);
  const credentials = serverCredentials(options.tls);
  const tls = !serverTlsEnabled(options.tls) ? "off" : options.tls?.clientCa !== undefined ? "mutual" : "tls";
  return { keys, credentials, tls };
}

/** How every error of a failed bind begins, so that a command line can add the flag that changes the port. */
const listenFailurePrefix = "cannot listen on ";

export function isListenFailure(error: OrchestratorError): boolean {
  return error.rawMessage.startsWith(listenFailurePrefix);
}

/** The reason inside grpc-js's "No address added out of total 1 resolved errors: [listen EADDRINUSE: ...]", in words. */
function whyNotBound(message: string): string {
  if (message.includes("EADDRINUSE")) return "the address is already in use (by another orchestrator service or another program)";
  if (message.includes("EACCES")) return "permission denied (ports below 1024 need privileges)";
  if (message.includes("EADDRNOTAVAIL")) return "no network interface of this machine has that address";
  return message;
}

/**
 * Sends grpc-js's own log lines (printed as "E ..." on stderr by default) into the service's
 * structured log, for the process that owns the services (the CLI): a library leaves the global
 * grpc-js logger alone. "No address added ..." is dropped: the failed bind is reported as the error
 * startGrpcServer throws, with the address and what to change.
 */
export function routeGrpcJsLogs(logger: Logger): void {
  const write = (level: "warn" | "info" | "debug") => (message?: unknown, ...rest: unknown[]): void => {
    const text = [message, ...rest].map(String).join(" ");
    if (text.startsWith("No address added")) return;
    logger[level]({ component: "grpc-js" }, text);
  };
  setLogger({ error: write("warn"), info: write("info"), debug: write("debug") });
}

export interface ServiceServer {
  readonly address: string;
  readonly port: number;
  /** For the "listening" log line. */
  readonly security: { tls: "off" | "tls" | "mutual"; auth: "on" | "off" };
  /** Stops accepting calls; ends what is still open after `graceMs`. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(
  serviceName: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  host: string,
  port: number,
  extras: { security?: ListenerSecurity; logger?: Logger; interceptors?: readonly ServerInterceptor[] } = {},
): Promise<ServiceServer> {
  const security = extras.security ?? listenerSecurity(serviceName, host);
  const logger = extras.logger;
  // Every call, to any service this server serves, passes the guard of auth.ts (metadata bound, key, role).
  const server = new GuardedServer({
    "grpc.max_receive_message_length": limits.messageMaxBytes,
    "grpc.max_send_message_length": limits.messageMaxBytes,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.max_concurrent_streams": limits.concurrentStreamsPerConnection,
    // grpc-js 1.14 does not enforce this option; the guard answers RESOURCE_EXHAUSTED past it.
    "grpc.max_metadata_size": limits.metadataMaxBytes,
  }, security.keys, (refusal) => {
    logger?.warn({ method: refusal.method, peer: refusal.peer, code: refusal.code, reason: refusal.message }, "Refused a call");
  }, extras.interceptors);
  server.addService(definition, implementation);
  if (security.keys.enabled && security.tls === "off" && !isLoopbackHost(host)) {
    logger?.warn({ host }, "API keys travel in plaintext on a non-loopback address: configure TLS (--tls-cert, --tls-key)");
  }
  // Standard health checking and reflection, whose libraries load on their first call: most runs
  // never call them, and loading them costs every service 6-8 MiB of memory.
  const health = new LazyHealth(server, { "": "SERVING", [serviceName]: "SERVING" });
  // Reflection lists what this port serves (its own service, health, reflection), not the whole contract.
  addLazyReflection(server, reflected, () => ({ services: [...server.serviceNames] }));
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, security.credentials, (error, bound) => {
      if (error) reject(new OrchestratorError(Code.Unavailable, `${listenFailurePrefix}${host}:${port}: ${whyNotBound(error.message)}`, { cause: error }));
      else resolve(bound);
    });
  });
  return {
    address: `${host}:${boundPort}`,
    port: boundPort,
    security: { tls: security.tls, auth: security.keys.enabled ? "on" : "off" },
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
