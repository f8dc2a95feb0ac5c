/**
 * gRPC health checking (grpc-health-check) and server reflection (@grpc/reflection), loaded on
 * their first call.
 *
 * Both libraries pull in @grpc/proto-loader and protobufjs and parse .proto files as they load:
 * 6-8 MiB of resident memory in every service, which most runs never use (a health probe or a
 * `buf curl` now and then). So at start-up a service only registers their methods with
 * pass-through serializers (raw Buffers), which need nothing loaded. The first call of any of them
 * imports the library, once, and runs its own addToServer against a stand-in server that keeps the
 * real definitions and handlers; every call is then handed to the library's handler through a thin
 * adapter that decodes requests and encodes responses with the library's own definitions. The
 * libraries stay the implementation: this file only defers them.
 */
import { EventEmitter } from "node:events";
import { status, type Metadata, type MethodDefinition, type sendUnaryData, type Server, type ServiceDefinition, type UntypedHandleCall, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { ReflectionService } from "@grpc/reflection";
import type { HealthImplementation, ServingStatus } from "grpc-health-check";

/** What a library's addToServer uses of a server. */
interface ServiceRegistry {
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void;
}

/** A library's definition and handler of one method. */
interface Captured {
  method: MethodDefinition<unknown, unknown>;
  handler: UntypedHandleCall;
}

/** The part of a grpc-js server call (unary, server-streaming or bidi) the adapter touches. */
interface RawCall extends EventEmitter {
  readonly request?: Buffer;
  readonly metadata: Metadata;
  readonly cancelled: boolean;
  getPeer(): string;
  write?(chunk: Buffer, callback?: (error?: Error | null) => void): boolean;
  end?(metadata?: Metadata): void;
}

type CallError = { code: status; details: string };

const rawBytes = (message: Buffer): Buffer => message;

function passThrough(path: string, requestStream: boolean, responseStream: boolean): MethodDefinition<Buffer, Buffer> {
  return { path, requestStream, responseStream, requestSerialize: rawBytes, requestDeserialize: rawBytes, responseSerialize: rawBytes, responseDeserialize: rawBytes };
}

// The methods grpc-health-check 2 and @grpc/reflection 1 serve, with their streaming shapes.
const healthServices: ServiceDefinition[] = [{
  Check: passThrough("/grpc.health.v1.Health/Check", false, false),
  Watch: passThrough("/grpc.health.v1.Health/Watch", false, true),
  List: passThrough("/grpc.health.v1.Health/List", false, false),
}];
const reflectionServices: ServiceDefinition[] = ["grpc.reflection.v1", "grpc.reflection.v1alpha"].map((pkg) => ({
  ServerReflectionInfo: passThrough(`/${pkg}.ServerReflection/ServerReflectionInfo`, true, true),
}));

/** Runs a library's addToServer against a stand-in server; keeps its definitions and handlers by path. */
function capture(addToServer: (server: ServiceRegistry) => void): Map<string, Captured> {
  const captured = new Map<string, Captured>();
  addToServer({
    addService(service, implementation) {
      for (const [name, method] of Object.entries(service)) {
        // Like grpc-js: the handler under the method's name, else under its original (lowerCamel) name.
        const handler = implementation[name] ?? (method.originalName === undefined ? undefined : implementation[method.originalName]);
        if (handler) captured.set(method.path, { method, handler });
      }
    },
  });
  return captured;
}

/**
 * What a library's handler sees instead of the raw call: the decoded request, decoded 'data', and
 * write() that encodes. It offers what grpc-health-check 2.1 and @grpc/reflection 1.0 use (request,
 * the 'data', 'end' and 'cancelled' events, write(), end()), and cancelled, metadata, getPeer().
 */
class DecodedCall extends EventEmitter {
  readonly request: unknown;
  private readonly raw: RawCall;
  private readonly method: MethodDefinition<unknown, unknown>;

  constructor(raw: RawCall, method: MethodDefinition<unknown, unknown>) {
    super();
    this.raw = raw;
    this.method = method;
    // Throws on a malformed request: the caller answers INTERNAL, as grpc-js does.
    if (!method.requestStream) this.request = method.requestDeserialize(raw.request ?? Buffer.alloc(0));
    raw.on("cancelled", () => this.emit("cancelled", "cancelled"));
    if (method.requestStream) {
      // Listening to the raw stream only now (after the library loaded) is what buffered its messages.
      raw.on("data", (message: Buffer) => {
        let decoded: unknown;
        try {
          decoded = method.requestDeserialize(message);
        } catch {
          raw.emit("error", { code: status.INTERNAL, details: "Error deserializing request" });
          return;
        }
        this.emit("data", decoded);
      });
      raw.on("end", () => this.emit("end"));
    }
  }

  get cancelled(): boolean {
    return this.raw.cancelled;
  }

  get metadata(): Metadata {
    return this.raw.metadata;
  }

  getPeer(): string {
    return this.raw.getPeer();
  }

  write(message: unknown, callback?: (error?: Error | null) => void): boolean {
    let encoded: Buffer;
    try {
      encoded = this.method.responseSerialize(message);
    } catch {
      // A grpc-js server stream ends with the status of an 'error' it emits.
      this.raw.emit("error", { code: status.INTERNAL, details: "Error serializing response" });
      return false;
    }
    return this.raw.write?.(encoded, callback) ?? false;
  }

  end(metadata?: Metadata): void {
    this.raw.end?.(metadata);
  }
}

/** Ends a call with an error: through the callback of a unary call, or the 'error' of a stream. */
function fail(call: RawCall, callback: sendUnaryData<Buffer> | undefined, error: CallError): void {
  if (callback) callback(error);
  else call.emit("error", error);
}

/** Hands a raw call to the library's handler through a DecodedCall (and, if unary, an encoding callback). */
function delegate({ method, handler }: Captured, call: RawCall, callback: sendUnaryData<Buffer> | undefined): void {
  let decoded: DecodedCall;
  try {
    decoded = new DecodedCall(call, method);
  } catch {
    fail(call, callback, { code: status.INTERNAL, details: "Error deserializing request" });
    return;
  }
  // DecodedCall is not a whole grpc-js call, only the part of one these libraries use.
  const handle = handler as unknown as (call: DecodedCall, callback?: sendUnaryData<unknown>) => void;
  if (!callback) {
    handle(decoded); // A streaming response goes through write() and end().
    return;
  }
  handle(decoded, (error, value, trailer, flags) => {
    if (error || value === null || value === undefined) {
      callback(error, null, trailer, flags);
      return;
    }
    let encoded: Buffer;
    try {
      encoded = method.responseSerialize(value);
    } catch {
      callback({ code: status.INTERNAL, details: "Error serializing response" });
      return;
    }
    callback(null, encoded, trailer, flags);
  });
}

/**
 * Adds `services` (pass-through definitions) to `server`. Their first call runs `load`, once; it
 * resolves with the library's addToServer, and each call goes to the handler it registers for the
 * same path.
 */
function addLazyServices(server: Server, services: ServiceDefinition[], name: string, load: () => Promise<(server: ServiceRegistry) => void>): void {
  let loaded: Promise<Map<string, Captured>> | undefined;
  const serve = async (path: string, call: RawCall, callback: sendUnaryData<Buffer> | undefined): Promise<void> => {
    let captured: Map<string, Captured>;
    try {
      captured = await (loaded ??= load().then(capture));
    } catch (error) {
      fail(call, callback, { code: status.INTERNAL, details: `cannot load ${name}: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    const target = captured.get(path);
    if (call.cancelled) return; // The client left while the library loaded.
    if (!target) {
      fail(call, callback, { code: status.UNIMPLEMENTED, details: `${name} does not serve ${path}` });
      return;
    }
    try {
      delegate(target, call, callback);
    } catch {
      // What grpc-js answers when a handler throws.
      fail(call, callback, { code: status.UNKNOWN, details: "Unknown error" });
    }
  };
  for (const service of services) {
    const implementation: UntypedServiceImplementation = {};
    for (const [methodName, method] of Object.entries(service)) {
      implementation[methodName] = ((call: RawCall, callback?: sendUnaryData<Buffer>) => void serve(method.path, call, callback)) as UntypedHandleCall;
    }
    server.addService(service, implementation);
  }
}

/**
 * grpc.health.v1.Health (Check, Watch, List), served by grpc-health-check once called. Statuses
 * live here until then, so setting one (as shutdown does) never loads the library.
 */
export class LazyHealth {
  private readonly statuses: Map<string, ServingStatus>;
  private library: HealthImplementation | undefined;

  constructor(server: Server, initial: Record<string, ServingStatus>) {
    this.statuses = new Map(Object.entries(initial));
    addLazyServices(server, healthServices, "grpc-health-check", async () => {
      const { HealthImplementation } = await import("grpc-health-check");
      const library = new HealthImplementation(Object.fromEntries(this.statuses));
      this.library = library;
      return (registry) => library.addToServer(registry);
    });
  }

  /** Once the library is loaded it gets every change too, and tells the Watch streams. */
  setStatus(service: string, servingStatus: ServingStatus): void {
    this.statuses.set(service, servingStatus);
    this.library?.setStatus(service, servingStatus);
  }
}

/** What ReflectionService reflects on: a package definition, or a set of FileDescriptorProtos. */
export type ReflectionPackage = ConstructorParameters<typeof ReflectionService>[0];

/** Which of the reflected services ListServices names (ReflectionService's own options). */
export type ReflectionOptions = ConstructorParameters<typeof ReflectionService>[1];

/**
 * grpc.reflection.v1 and v1alpha ServerReflection, served by @grpc/reflection once called;
 * `reflected` and `options` are only asked for then.
 */
export function addLazyReflection(server: Server, reflected: () => ReflectionPackage, options: () => ReflectionOptions = () => undefined): void {
  addLazyServices(server, reflectionServices, "@grpc/reflection", async () => {
    const { ReflectionService } = await import("@grpc/reflection");
    const reflection = new ReflectionService(reflected(), options());
    return (registry) => reflection.addToServer(registry);
  });
}
