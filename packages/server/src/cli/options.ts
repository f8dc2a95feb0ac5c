import { InvalidArgumentError, Option, type Command } from "commander";
import { logLevels, OrchestratorError, parseSchedulerAddresses, workerDefaults } from "orchestrator-ts-client/internal";
import { schedulerDefaults } from "../scheduler/options.js";
import { presentedKey } from "../util/auth.js";
import type { ListenerSecurityOptions } from "../util/grpc-server.js";
import { readSettingFile } from "orchestrator-ts-client/internal";
import { clientTlsFromFlags, type ClientTlsOptions } from "orchestrator-ts-client/internal";

export function integer(value: string): number {
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return parsed;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "7d", "12h", "30m", "90s", "500ms", or plain milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration such as 7d, 12h, 30m, 90s or 500ms, got "${value}"`);
  return Number(match[1]) * (durationUnits[match[2] ?? "ms"] ?? 1);
}

/** An ISO 8601 date and time ("2026-07-01T09:00:00Z", or with an offset), as Unix milliseconds. */
export function instant(value: string): number {
  const trimmed = value.trim();
  const parsed = Date.parse(trimmed);
  // A time without a zone is read by Date.parse as local time: ask for one, so the meaning is not the machine's.
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i.test(trimmed) || Number.isNaN(parsed)) {
    throw new InvalidArgumentError(`expected an ISO 8601 time with a zone, such as 2026-07-01T09:00:00Z or 2026-07-01T11:00:00+02:00, got "${value}"`);
  }
  return parsed;
}

export function port(value: string): number {
  const parsed = integer(value);
  if (parsed < 0 || parsed > 65535) throw new InvalidArgumentError(`${parsed} is not a port (0-65535)`);
  return parsed;
}

/** A yes/no environment variable (ORCHESTRATOR_INSECURE, ORCHESTRATOR_NO_EXAMPLES): 1, true or yes turn it on. */
export function envFlag(value: string | undefined): boolean {
  return /^(1|true|yes)$/i.test(value?.trim() ?? "");
}

export const hostOption = (): Option => new Option("--host <host>", "address to listen on").env("ORCHESTRATOR_HOST").default(schedulerDefaults.host);
export const logLevelOption = (): Option => new Option("--log-level <level>", "log level").choices([...logLevels]).env("ORCHESTRATOR_LOG_LEVEL").default("info");
export const dataDirOption = (): Option => new Option("--data-dir <path>", "folder of the embedded SQLite store").env("ORCHESTRATOR_DATA_DIR").default(schedulerDefaults.dataDir);
/** Checks a --scheduler list where it is typed; the value goes on as given (the services parse it again). */
export function schedulerAddresses(value: string): string {
  try {
    parseSchedulerAddresses(value, "--scheduler");
  } catch (error) {
    throw new InvalidArgumentError(OrchestratorError.from(error).rawMessage);
  }
  return value;
}

export const schedulerAddressOption = (): Option =>
  new Option(
    "--scheduler <host:port>",
    "address of the Scheduler; several Schedulers sharing one store as a comma-separated list (host:port,host:port): work spreads over them and moves on when one is down",
  ).env("ORCHESTRATOR_SCHEDULER_ADDRESS").default(workerDefaults.schedulerAddress).argParser(schedulerAddresses);
export const portOption = (service: "gateway" | "scheduler" | "worker", fallback: number): Option =>
  new Option("--port <port>", `port of the ${service}`).env(`ORCHESTRATOR_${service.toUpperCase()}_PORT`).default(fallback).argParser(port);
/** No default here: left out, the service's options keep theirs (httpPort null: no HTTP listener). */
export const httpPortOption = (what = "port of the HTTP listener on --host serving /metrics (Prometheus), /healthz and /readyz (default: none)"): Option =>
  new Option("--http-port <port>", what).env("ORCHESTRATOR_HTTP_PORT").argParser(port);
export const syncOption = (): Option =>
  new Option("--sqlite-synchronous <mode>", "full: a power loss keeps every acknowledged task; normal: faster, a power loss may lose the last commits")
    .choices(["full", "normal"]).env("ORCHESTRATOR_SQLITE_SYNCHRONOUS").default(schedulerDefaults.sqliteSynchronous);
export const slotsOption = (): Option => new Option("--slots <n>", "tasks the worker runs at once (1-10000)").env("ORCHESTRATOR_WORKER_SLOTS").default(workerDefaults.slots).argParser(integer);
export const prefetchOption = (): Option =>
  new Option("--prefetch <n>", "claim-ahead: tasks the worker may hold beyond its free slots, started as slots free (0-10000; for many short tasks)")
    .env("ORCHESTRATOR_WORKER_PREFETCH").default(workerDefaults.prefetch).argParser(integer);
export const handlersOption = (): Option =>
  new Option("--handlers <path>", "module exporting more handlers ({ handlers: { name: async (ctx) => result } })").env("ORCHESTRATOR_HANDLERS");

// Security. Keys are never taken as flag values (process lists show flags): from the environment or a file.

/**
 * The PEM file a TLS flag names, read here so that an error names the flag. It never repeats the
 * value: a private key pasted where its path belongs must not be printed back.
 */
function pemFile(path: string | undefined, flag: string, variable: string): Buffer | undefined {
  return path === undefined ? undefined : readSettingFile(path, `${flag} (or ${variable})`, `${flag} takes the path of a PEM file`);
}

/** A listener's keys, TLS and the insecure opt-out; for every service command. */
export interface ListenerFlags {
  keysFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  insecure?: boolean;
}

export function listenerSecurityOptions(command: Command): Command {
  return command
    .addOption(new Option("--keys-file <path>", 'accepted API keys, one "role key" per line (roles: client, gateway, worker, metrics); also ORCHESTRATOR_KEYS="role:key,..."').env("ORCHESTRATOR_KEYS_FILE"))
    .addOption(new Option("--tls-cert <path>", "certificate chain (PEM) of the listener: turns TLS on").env("ORCHESTRATOR_TLS_CERT"))
    .addOption(new Option("--tls-key <path>", "private key (PEM) of --tls-cert").env("ORCHESTRATOR_TLS_KEY"))
    .addOption(new Option("--tls-client-ca <path>", "CA (PEM) that client certificates must chain to: requires one from every client (mutual TLS)").env("ORCHESTRATOR_TLS_CLIENT_CA"))
    .addOption(new Option("--insecure", "allow listening on a non-loopback address without API keys (or ORCHESTRATOR_INSECURE=1)"));
}

/** What the service's listener options take, from the flags and ORCHESTRATOR_KEYS / ORCHESTRATOR_INSECURE. */
export function listenerSecurity(flags: ListenerFlags, env: NodeJS.ProcessEnv = process.env): ListenerSecurityOptions {
  return {
    keys: env.ORCHESTRATOR_KEYS,
    keysFile: flags.keysFile,
    tls: {
      cert: pemFile(flags.tlsCert, "--tls-cert", "ORCHESTRATOR_TLS_CERT"),
      key: pemFile(flags.tlsKey, "--tls-key", "ORCHESTRATOR_TLS_KEY"),
      clientCa: pemFile(flags.tlsClientCa, "--tls-client-ca", "ORCHESTRATOR_TLS_CLIENT_CA"),
    },
    insecure: flags.insecure === true || /^(1|true|yes)$/i.test(env.ORCHESTRATOR_INSECURE ?? ""),
  };
}

/** TLS from the Gateway or a Worker to the Scheduler. */
export interface SchedulerTlsFlags {
  schedulerCa?: string;
  schedulerCert?: string;
  schedulerKey?: string;
}

export function schedulerTlsOptions(command: Command): Command {
  return command
    .addOption(new Option("--scheduler-ca <path>", "CA (PEM) to trust for the Scheduler's certificate: turns TLS to the Scheduler on").env("ORCHESTRATOR_SCHEDULER_TLS_CA"))
    .addOption(new Option("--scheduler-cert <path>", "client certificate (PEM) for a Scheduler that requires mutual TLS").env("ORCHESTRATOR_SCHEDULER_TLS_CERT"))
    .addOption(new Option("--scheduler-key <path>", "private key (PEM) of --scheduler-cert").env("ORCHESTRATOR_SCHEDULER_TLS_KEY"));
}

export function schedulerTls(flags: SchedulerTlsFlags): ClientTlsOptions | undefined {
  return clientTlsFromFlags(
    pemFile(flags.schedulerCa, "--scheduler-ca", "ORCHESTRATOR_SCHEDULER_TLS_CA"),
    pemFile(flags.schedulerCert, "--scheduler-cert", "ORCHESTRATOR_SCHEDULER_TLS_CERT"),
    pemFile(flags.schedulerKey, "--scheduler-key", "ORCHESTRATOR_SCHEDULER_TLS_KEY"),
  );
}

/** TLS and the API key of the CLI's client commands. */
export interface ClientSecurityFlags {
  apiKeyFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export const clientSecurityOptions = (): Option[] => [
  new Option("--api-key-file <path>", "file holding the API key (role client); also ORCHESTRATOR_API_KEY").env("ORCHESTRATOR_API_KEY_FILE"),
  new Option("--tls-ca <path>", "CA (PEM) to trust for the Gateway's certificate: turns TLS on").env("ORCHESTRATOR_CLIENT_TLS_CA"),
  new Option("--tls-cert <path>", "client certificate (PEM) for a Gateway that requires mutual TLS").env("ORCHESTRATOR_CLIENT_TLS_CERT"),
  new Option("--tls-key <path>", "private key (PEM) of --tls-cert").env("ORCHESTRATOR_CLIENT_TLS_KEY"),
];

export function clientSecurity(flags: ClientSecurityFlags, env: NodeJS.ProcessEnv = process.env): { apiKey?: string; tls?: ClientTlsOptions } {
  return {
    apiKey: presentedKey(flags.apiKeyFile, env.ORCHESTRATOR_API_KEY, { fileFlag: "--api-key-file", fileVariable: "ORCHESTRATOR_API_KEY_FILE", keyVariable: "ORCHESTRATOR_API_KEY" }),
    tls: clientTlsFromFlags(
      pemFile(flags.tlsCa, "--tls-ca", "ORCHESTRATOR_CLIENT_TLS_CA"),
      pemFile(flags.tlsCert, "--tls-cert", "ORCHESTRATOR_CLIENT_TLS_CERT"),
      pemFile(flags.tlsKey, "--tls-key", "ORCHESTRATOR_CLIENT_TLS_KEY"),
    ),
  };
}
