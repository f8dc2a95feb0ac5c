import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import {
  Server, ServerInterceptingCall, type Metadata, type ServerInterceptor, type ServerOptions, type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { checkKey, Code } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import { readSettingFile } from "orchestrator-ts-client/internal";

/**
 * Who may call what. A key has a role: `client` keys call the Gateway, the Gateway's `gateway` key
 * calls the Scheduler's task methods, `worker` keys open the Scheduler's worker stream, `metrics`
 * keys read a service's /metrics over HTTP and call nothing (metrics/http-endpoint.ts). Health
 * checks and server reflection stay open to anyone (their metadata is bounded all the same).
 * Every method each service registers must be listed here, or the service does not start.
 */
export const roles = ["client", "gateway", "worker", "metrics"] as const;
export type Role = (typeof roles)[number];

/** "open": anyone; otherwise the roles whose keys may call the method. */
export type Access = "open" | readonly Role[];

const gatewayTasks = ["client"] as const;
const schedulerTasks = ["gateway"] as const;

export const accessPolicy: Readonly<Record<string, Readonly<Record<string, Access>>>> = {
  "orchestrator.v1.Gateway": {
    HealthCheck: "open",
    SubmitTask: gatewayTasks, SubmitTasks: gatewayTasks, SubmitStream: gatewayTasks, SubscribeProgress: gatewayTasks, WatchTasks: gatewayTasks,
    GetTask: gatewayTasks, ListTasks: gatewayTasks, CancelTask: gatewayTasks, ListWorkers: gatewayTasks,
    CountTasks: gatewayTasks, GetTaskStats: gatewayTasks, RetryTask: gatewayTasks, RetryTasks: gatewayTasks, CancelTasks: gatewayTasks, DeleteTasks: gatewayTasks,
    PauseQueue: gatewayTasks, ResumeQueue: gatewayTasks, ListPausedQueues: gatewayTasks,
    SetConcurrencyLimit: gatewayTasks, ClearConcurrencyLimit: gatewayTasks, ListConcurrencyLimits: gatewayTasks,
    CreateSchedule: gatewayTasks, GetSchedule: gatewayTasks, ListSchedules: gatewayTasks, UpdateSchedule: gatewayTasks, DeleteSchedule: gatewayTasks,
    SetRateLimit: gatewayTasks, ClearRateLimit: gatewayTasks, ListRateLimits: gatewayTasks,
  },
  "orchestrator.v1.Scheduler": {
    HealthCheck: "open",
    SubmitTask: schedulerTasks, SubmitTasks: schedulerTasks, SubmitStream: schedulerTasks, Watch: schedulerTasks, WatchTasks: schedulerTasks,
    GetTask: schedulerTasks, ListTasks: schedulerTasks, CancelTask: schedulerTasks, ListWorkers: schedulerTasks,
    CountTasks: schedulerTasks, GetTaskStats: schedulerTasks, RetryTask: schedulerTasks, RetryTasks: schedulerTasks, CancelTasks: schedulerTasks,
    DeleteTasks: schedulerTasks,
    PauseQueue: schedulerTasks, ResumeQueue: schedulerTasks, ListPausedQueues: schedulerTasks,
    SetConcurrencyLimit: schedulerTasks, ClearConcurrencyLimit: schedulerTasks, ListConcurrencyLimits: schedulerTasks,
    CreateSchedule: schedulerTasks, GetSchedule: schedulerTasks, ListSchedules: schedulerTasks, UpdateSchedule: schedulerTasks,
    DeleteSchedule: schedulerTasks,
    SetRateLimit: schedulerTasks, ClearRateLimit: schedulerTasks, ListRateLimits: schedulerTasks,
    Connect: ["worker"],
  },
  "orchestrator.v1.Worker": {
    HealthCheck: "open",
    GetStatus: ["client", "gateway", "worker"],
  },
  "grpc.health.v1.Health": { Check: "open", Watch: "open", List: "open" },
  "grpc.reflection.v1.ServerReflection": { ServerReflectionInfo: "open" },
  "grpc.reflection.v1alpha.ServerReflection": { ServerReflectionInfo: "open" },
};

export const minKeyLength = 16;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * A key's id, safe to log: the first 12 hex digits of its SHA-256 (a fingerprint, as SSH shows one).
 * It names the key in the operator actions' log lines without revealing it; the operator finds a
 * key's id with `printf %s "$KEY" | sha256sum | cut -c1-12`.
 */
export function keyIdOf(key: string): string {
  return sha256(key).toString("hex").slice(0, 12);
}

/** What key ids look like: a header that claims anything else is ignored (it is written to logs). */
export const keyIdPattern = /^[0-9a-f]{12}$/;

/**
 * The metadata by which the Gateway tells the Scheduler the id of the client key that asked for a
 * call. The Scheduler believes it only from a caller holding a `gateway` key.
 */
export const keyIdHeader = "x-orchestrator-key-id";

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
    if (options.keysFile) {
      const text = readSettingFile(options.keysFile, "--keys-file (or ORCHESTRATOR_KEYS_FILE)",
        '--keys-file takes the path of a file of "role key" lines; to give the keys themselves, set ORCHESTRATOR_KEYS="role:key,..."').toString("utf8");
      entries.push(...KeyRing.parse(text, options.keysFile).entries);
    }
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

/** How a caller is given its key: a flag or variable naming a file, or a variable holding the key. */
export interface KeySettings {
  /** "--api-key-file" */
  fileFlag: string;
  /** "ORCHESTRATOR_API_KEY_FILE" */
  fileVariable: string;
  /** "ORCHESTRATOR_API_KEY" */
  keyVariable: string;
}

/**
 * The key a caller presents: read from `file` when given (its content, trimmed), else `envValue`.
 * Undefined when neither is set. Errors name the settings; neither the key nor the value given for
 * the file ever appears (a key passed where the file's path belongs is a common slip).
 */
export function presentedKey(file: string | undefined, envValue: string | undefined, settings: KeySettings): string | undefined {
  if (file) {
    const { fileFlag, fileVariable, keyVariable } = settings;
    const hint = `${fileFlag} takes the path of a file that holds the key; to give the key itself, set ${keyVariable}`;
    const key = readSettingFile(file, `${fileFlag} (or ${fileVariable})`, hint).toString("utf8").trim();
    return key === "" ? undefined : checkKey(key, `the key in the file given to ${fileFlag}`, 1);
  }
  const key = envValue?.trim();
  return key === undefined || key === "" ? undefined : checkKey(key, settings.keyVariable, 1);
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

/** The key of an `authorization: Bearer <key>` value (gRPC metadata or HTTP header); undefined without one. */
export function bearerKey(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
}

function bearerOf(metadata: Metadata): string | undefined {
  return bearerKey(metadata.get("authorization")[0]);
}

/**
 * The one check of a presented key, for gRPC calls and the dashboard's HTTP API alike: why the key
 * may not do `what` (which needs one of `accepted`), or undefined when it may or when no keys are
 * configured. `howToSend` tells a caller without a key how to present one. Never repeats the key.
 */
export function keyRefusal(keys: KeyRing, accepted: readonly Role[], what: string, key: string | undefined, howToSend: string): OrchestratorError | undefined {
  if (!keys.enabled) return undefined;
  if (key === undefined) return new OrchestratorError(Code.Unauthenticated, `${what} needs an API key: ${howToSend}`);
  const held = keys.rolesOf(key);
  if (held.size === 0) return new OrchestratorError(Code.Unauthenticated, "the API key is not valid here");
  if (accepted.some((role) => held.has(role))) return undefined;
  return new OrchestratorError(Code.PermissionDenied, `a ${[...held].join("/")} key may not call ${what}; it needs a ${accepted.join(" or ")} key`);
}

/** Who asked for an operator action, as its log line names them: a key id, never a key. */
export interface ActionCaller {
  /** The id (keyIdOf) of the client key that asked, or "none" when no key can be told. */
  keyId: string;
  /** The id the Gateway claimed when the Scheduler has no keys to believe it by (unverified). */
  claimedKeyId?: string;
}

/**
 * The caller of an operator action on the Scheduler: the client key id the Gateway forwarded
 * (keyIdHeader), believed only when the call's own key holds the gateway role. Without keys on the
 * Scheduler anyone may call it and claim any id, so a claimed id is kept apart as unverified.
 */
export function schedulerCaller(metadata: Metadata, keys: KeyRing): ActionCaller {
  const [header] = metadata.get(keyIdHeader);
  const claimed = typeof header === "string" && keyIdPattern.test(header) ? header : undefined;
  if (!keys.enabled) return claimed === undefined ? { keyId: "none" } : { keyId: "none", claimedKeyId: claimed };
  const bearer = bearerOf(metadata);
  if (bearer === undefined || !keys.rolesOf(bearer).has("gateway")) return { keyId: "none" };
  return { keyId: claimed ?? "none" };
}

/**
 * The id of the key a client presented to the Gateway, to forward as keyIdHeader; undefined when
 * the Gateway has no keys (a key it cannot check names no one).
 */
export function gatewayClientKeyId(metadata: Metadata, keys: KeyRing): string | undefined {
  return clientKeyId(bearerOf(metadata), keys);
}

/** The id of a presented client key (a gRPC call's, or the dashboard's bearer), as gatewayClientKeyId tells it. */
export function clientKeyId(key: string | undefined, keys: KeyRing): string | undefined {
  return !keys.enabled || key === undefined ? undefined : keyIdOf(key);
}

/** Why a call may not go on, or undefined when it may. */
function refusal(keys: KeyRing, access: Access, path: string, metadata: Metadata): OrchestratorError | undefined {
  const size = metadataSize(metadata);
  if (size > limits.metadataMaxBytes) {
    return new OrchestratorError(Code.ResourceExhausted, `the call's metadata is ${size} bytes; the limit is ${limits.metadataMaxBytes}`);
  }
  if (access === "open") return undefined;
  return keyRefusal(keys, access, path, bearerOf(metadata), 'send the metadata "authorization: Bearer <key>" (ORCHESTRATOR_API_KEY for the CLI, apiKey in the SDK)');
}

/** Every method's access by its path, as grpc-js names it ("/orchestrator.v1.Gateway/SubmitTask"). */
const accessByPath: ReadonlyMap<string, Access> = new Map(
  Object.entries(accessPolicy).flatMap(([service, methods]) => Object.entries(methods).map(([method, access]) => [`/${service}/${method}`, access] as const)),
);

/** Throws when a method of `definition` is missing from `accessPolicy`, so nothing new is ever left open by accident. */
export function assertPolicyCovers(definition: ServiceDefinition): void {
  for (const method of Object.values(definition)) {
    if (!accessByPath.has(method.path)) {
      throw new OrchestratorError(Code.Internal, `the access policy does not list ${method.path.slice(1)}: add it to accessPolicy (src/util/auth.ts)`);
    }
  }
}

/**
 * The one place calls are checked, as a grpc-js server interceptor: before any handler (ours, or
 * the health and reflection libraries') sees a call, its metadata is bounded and the caller's key
 * checked against the method's roles in `accessPolicy`, for unary and streaming calls alike. A
 * refused call ends with its status (RESOURCE_EXHAUSTED, UNAUTHENTICATED or PERMISSION_DENIED) and
 * its handler never starts. A path missing from the policy is refused too (fail closed), though
 * GuardedServer already refuses to register one.
 */
export function callGuard(keys: KeyRing, onRefused: (refusal: Refusal) => void = () => undefined): ServerInterceptor {
  return (method, call) => new ServerInterceptingCall(call, {
    start: (next) => next({
      onReceiveMetadata: (metadata, pass) => {
        const path = method.path.slice(1);
        const access = accessByPath.get(method.path);
        const refused = access === undefined
          ? new OrchestratorError(Code.PermissionDenied, `${path} is not in the access policy`)
          : refusal(keys, access, path, metadata);
        if (!refused) {
          pass(metadata);
          return;
        }
        onRefused({ method: path, peer: call.getPeer(), code: refused.code, message: refused.rawMessage });
        // The handler is never told of the metadata, so it never starts: the call ends here.
        call.sendStatus({ code: refused.code, details: refused.rawMessage });
      },
    }),
  });
}

/**
 * A grpc-js Server whose every call passes `callGuard` and that refuses to register a service
 * with a method the access policy does not list. Everything a service serves, the health and
 * reflection services included, is added through it, so nothing is served unchecked.
 */
export class GuardedServer extends Server {
  private readonly names: string[] = [];

  /** `inner`: interceptors that see every call after the guard (a refusal included), such as the metrics'. */
  constructor(options: ServerOptions, keys: KeyRing, onRefused?: (refusal: Refusal) => void, inner: readonly ServerInterceptor[] = []) {
    // grpc-js wraps the call with each interceptor in turn: the last one listed sees the call first.
    super({ ...options, interceptors: [...inner, callGuard(keys, onRefused)] });
  }

  override addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    assertPolicyCovers(service);
    super.addService(service, implementation);
    for (const method of Object.values(service)) {
      const name = method.path.slice(1, method.path.lastIndexOf("/"));
      if (!this.names.includes(name)) this.names.push(name);
    }
  }

  /** The full names of the services added ("orchestrator.v1.Gateway", "grpc.health.v1.Health", ...). */
  get serviceNames(): readonly string[] {
    return this.names;
  }
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
