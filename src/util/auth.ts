import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import {
  InterceptingCall, type Interceptor, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition,
  type UntypedHandleCall, type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { Code } from "../errors/code.js";
import { toServiceError } from "../errors/grpc.js";
import { OrchestratorError } from "../errors/orchestrator-error.js";
import { limits } from "../scheduler/limits.js";

/**
 * Who may call what. A key has a role: `client` keys call the Gateway, the Gateway's `gateway` key
 * calls the Scheduler's task methods, `worker` keys open the Scheduler's worker stream. Health
 * checks stay open (grpc.health.v1 and server reflection are not guarded at all).
 */
export const roles = ["client", "gateway", "worker"] as const;
export type Role = (typeof roles)[number];

/** "open": anyone; otherwise the roles whose keys may call the method. */
export type Access = "open" | readonly Role[];

const gatewayTasks = ["client"] as const;
const schedulerTasks = ["gateway"] as const;

export const accessPolicy: Readonly<Record<string, Readonly<Record<string, Access>>>> = {
  "orchestrator.v1.Gateway": {
    HealthCheck: "open",
    SubmitTask: gatewayTasks, SubmitTasks: gatewayTasks, SubmitStream: gatewayTasks, SubscribeProgress: gatewayTasks,
    GetTask: gatewayTasks, ListTasks: gatewayTasks, CancelTask: gatewayTasks, ListWorkers: gatewayTasks,
  },
  "orchestrator.v1.Scheduler": {
    HealthCheck: "open",
    SubmitTask: schedulerTasks, SubmitTasks: schedulerTasks, SubmitStream: schedulerTasks, Watch: schedulerTasks,
    GetTask: schedulerTasks, ListTasks: schedulerTasks, CancelTask: schedulerTasks, ListWorkers: schedulerTasks,
    Connect: ["worker"],
  },
  "orchestrator.v1.Worker": {
    HealthCheck: "open",
    GetStatus: roles,
  },
};

/** Characters a key may hold: those of hex, base64 and base64url, so it fits an HTTP/2 header. */
const keyPattern = /^[A-Za-z0-9._~+/=-]+$/;
export const minKeyLength = 16;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

interface KeyEntry {
  readonly role: Role;
  readonly digest: Buffer;
}

/**
 * The keys a service accepts, each with its role. Only SHA-256 digests are kept, and a presented
 * key is compared with every entry in constant time. Several keys per role may be valid at once,
 * so a key is rotated by adding the new one, moving the callers, then removing the old one.
 */
export class KeyRing {
  private constructor(private readonly entries: readonly KeyEntry[]) {}

  static readonly empty = new KeyRing([]);

  /**
   * Entries `role:key` (or `role key`), separated by commas or new lines; blank lines and lines
   * starting with # are skipped. Errors name the line (and entry) and the source, never the key.
   */
  static parse(text: string, source: string): KeyRing {
    const entries: KeyEntry[] = [];
    text.split("\n").forEach((line, lineIndex) => {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) return;
      const items = trimmed.split(",").map((item) => item.trim());
      items.forEach((item, itemIndex) => {
        if (item === "") return;
        const where = `${items.length > 1 ? `entry ${itemIndex + 1} on ` : ""}line ${lineIndex + 1} of ${source}`;
        const match = /^([A-Za-z]+)(?::|\s+)(\S+)$/.exec(item);
        if (!match) throw OrchestratorError.invalidArgument(`${where} is not "role:key" (or "role key")`);
        const role = (match[1] ?? "").toLowerCase();
        if (!(roles as readonly string[]).includes(role)) {
          throw OrchestratorError.invalidArgument(`${where} has the unknown role "${match[1]}"; the roles are ${roles.join(", ")}`);
        }
        entries.push({ role: role as Role, digest: sha256(checkKey(match[2] ?? "", `the key of ${where}`, minKeyLength)) });
      });
    });
    return new KeyRing(entries);
  }

  /** The keys of ORCHESTRATOR_KEYS (`keys`) and of a keys file, together. */
  static load(options: { keys?: string; keysFile?: string }): KeyRing {
    const entries: KeyEntry[] = [];
    if (options.keys) entries.push(...KeyRing.parse(options.keys, "ORCHESTRATOR_KEYS").entries);
    if (options.keysFile) entries.push(...KeyRing.parse(readText(options.keysFile, "keys file"), options.keysFile).entries);
    return new KeyRing(entries);
  }

  with(other: KeyRing): KeyRing {
    return new KeyRing([...this.entries, ...other.entries]);
  }

  /** Auth is on when at least one key is configured. */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  count(role: Role): number {
    return this.entries.filter((entry) => entry.role === role).length;
  }

  /** The roles of a presented key: empty when it is unknown. Every entry is compared, in constant time. */
  rolesOf(key: string): Set<Role> {
    const digest = sha256(key);
    const found = new Set<Role>();
    for (const entry of this.entries) if (timingSafeEqual(digest, entry.digest)) found.add(entry.role);
    return found;
  }
}

function checkKey(key: string, what: string, minLength: number): string {
  if (!keyPattern.test(key)) throw OrchestratorError.invalidArgument(`${what} holds characters other than A-Z a-z 0-9 . _ ~ + / = -`);
  if (key.length < minLength) {
    throw OrchestratorError.invalidArgument(`${what} is ${key.length} characters; a key needs at least ${minLength} (make one with: openssl rand -hex 32)`);
  }
  return key;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw OrchestratorError.invalidArgument(`cannot read the ${what} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The key a caller presents: read from `file` when given (its content, trimmed), else `envValue`.
 * Undefined when neither is set. `what` names the setting in errors; the key itself never appears.
 */
export function presentedKey(file: string | undefined, envValue: string | undefined, what: string): string | undefined {
  const key = file ? readText(file, `${what} file`).trim() : envValue?.trim();
  if (key === undefined || key === "") return undefined;
  return checkKey(key, what, 1);
}

/** Adds `authorization: Bearer <key>` to every call of a client (unary and streaming alike). */
export function bearerInterceptor(key: string): Interceptor {
  checkKey(key, "the API key", 1);
  const value = `Bearer ${key}`;
  return (options, nextCall) => new InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => {
      metadata.set("authorization", value);
      next(metadata, listener);
    },
  });
}

/** Client constructor options that present `key`, if there is one. */
export function keyInterceptors(key: string | undefined): { interceptors?: Interceptor[] } {
  return key ? { interceptors: [bearerInterceptor(key)] } : {};
}

/** Size of the metadata as HTTP/2 counts a header list: name + value + 32 per entry. */
export function metadataSize(metadata: Metadata): number {
  let size = 0;
  for (const [name, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) size += name.length + (typeof value === "string" ? Buffer.byteLength(value) : value.byteLength) + 32;
  }
  return size;
}

export interface Refusal {
  method: string;
  peer: string;
  code: Code;
  message: string;
}

function bearerOf(metadata: Metadata): string | undefined {
  const [value] = metadata.get("authorization");
  if (typeof value !== "string") return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
}

/** Why a call may not go on, or undefined when it may. */
function refusal(keys: KeyRing, access: Access, path: string, metadata: Metadata): OrchestratorError | undefined {
  const size = metadataSize(metadata);
  if (size > limits.metadataMaxBytes) {
    return new OrchestratorError(Code.ResourceExhausted, `the call's metadata is ${size} bytes; the limit is ${limits.metadataMaxBytes}`);
  }
  if (access === "open" || !keys.enabled) return undefined;
  const key = bearerOf(metadata);
  if (key === undefined) {
    return new OrchestratorError(Code.Unauthenticated, `${path} needs an API key: send the metadata "authorization: Bearer <key>" (ORCHESTRATOR_API_KEY for the CLI, apiKey in the SDK)`);
  }
  const held = keys.rolesOf(key);
  if (held.size === 0) return new OrchestratorError(Code.Unauthenticated, "the API key is not valid here");
  if (access.some((role) => held.has(role))) return undefined;
  return new OrchestratorError(Code.PermissionDenied, `a ${[...held].join("/")} key may not call ${path}; it needs a ${access.join(" or ")} key`);
}

/**
 * The one place calls are authenticated: every handler of the service is wrapped so that, before
 * it runs, the caller's metadata is bounded and its key checked against the method's roles in
 * `accessPolicy`. A refused call ends with its status (UNAUTHENTICATED, PERMISSION_DENIED or
 * RESOURCE_EXHAUSTED) and the handler never sees it. A method missing from the policy is an error
 * at start-up, so nothing new is ever left open by accident.
 */
export function guardService(
  serviceName: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  keys: KeyRing,
  onRefused: (refusal: Refusal) => void = () => undefined,
): UntypedServiceImplementation {
  const policy = accessPolicy[serviceName];
  if (!policy) throw new OrchestratorError(Code.Internal, `no access policy for ${serviceName}`);
  const guarded: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const methodName = method.path.slice(method.path.lastIndexOf("/") + 1);
    const access = policy[methodName];
    const handler = implementation[name];
    if (access === undefined) throw new OrchestratorError(Code.Internal, `the access policy of ${serviceName} does not list ${methodName}`);
    if (!handler) continue;
    const path = `${serviceName}/${methodName}`;
    const check = (metadata: Metadata, peer: string): ReturnType<typeof toServiceError> | undefined => {
      const refused = refusal(keys, access, path, metadata);
      if (!refused) return undefined;
      onRefused({ method: path, peer, code: refused.code, message: refused.rawMessage });
      return toServiceError(refused);
    };
    if (!method.responseStream) {
      // Unary and client-streaming handlers answer through a callback.
      const inner = handler as (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;
      guarded[name] = ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const refused = check(call.metadata, call.getPeer());
        if (refused) callback(refused);
        else inner(call, callback);
      }) as UntypedHandleCall;
    } else {
      // Server-streaming and bidi handlers: grpc-js turns an "error" event into the call's status.
      const inner = handler as (call: ServerWritableStream<unknown, unknown>) => void;
      guarded[name] = ((call: ServerWritableStream<unknown, unknown>) => {
        const refused = check(call.metadata, call.getPeer());
        if (refused) call.emit("error", refused);
        else inner(call);
      }) as UntypedHandleCall;
    }
  }
  return guarded;
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (name === "localhost") return true;
  if (isIP(name) === 4) return name.startsWith("127.");
  if (isIP(name) === 6) return name === "::1" || /^(0{1,4}:){7}0{0,3}1$/.test(name) || /^::ffff:127\./.test(name);
  return false;
}

/**
 * Safe default: no listener on a non-loopback address without keys, unless the operator says
 * --insecure. Loopback stays zero-config.
 */
export function assertSafeExposure(serviceName: string, host: string, keys: KeyRing, insecure: boolean): void {
  if (keys.enabled || insecure || isLoopbackHost(host)) return;
  throw new OrchestratorError(
    Code.FailedPrecondition,
    `refusing to start ${serviceName} on ${host}: it is not a loopback address and no API keys are configured, so anyone who can reach it ` +
      "could submit, read and cancel tasks or connect as a worker and receive task payloads. Configure keys " +
      '(ORCHESTRATOR_KEYS="client:<key>,gateway:<key>,worker:<key>" or --keys-file <path>, one "role key" per line), ' +
      "or pass --insecure (ORCHESTRATOR_INSECURE=1) to accept the risk",
  );
}
