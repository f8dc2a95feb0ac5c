import { InvalidArgumentError, Option } from "commander";
import { logLevels } from "../util/logger.js";

export function integer(value: string): number {
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return parsed;
}

export function port(value: string): number {
  const parsed = integer(value);
  if (parsed < 0 || parsed > 65535) throw new InvalidArgumentError(`${parsed} is not a port (0-65535)`);
  return parsed;
}

export const hostOption = (): Option => new Option("--host <host>", "address to listen on").env("ORCHESTRATOR_HOST").default("127.0.0.1");
export const logLevelOption = (): Option => new Option("--log-level <level>", "log level").choices([...logLevels]).env("ORCHESTRATOR_LOG_LEVEL").default("info");
export const dataDirOption = (): Option => new Option("--data-dir <path>", "folder of the embedded SQLite store").env("ORCHESTRATOR_DATA_DIR").default("./data");
export const schedulerAddressOption = (): Option =>
  new Option("--scheduler <host:port>", "address of the Scheduler").env("ORCHESTRATOR_SCHEDULER_ADDRESS").default("127.0.0.1:50052");
export const portOption = (service: "gateway" | "scheduler" | "worker", fallback: number): Option =>
  new Option("--port <port>", `port of the ${service}`).env(`ORCHESTRATOR_${service.toUpperCase()}_PORT`).default(fallback).argParser(port);
export const syncOption = (): Option =>
  new Option("--sqlite-synchronous <mode>", "full: a power loss keeps every acknowledged task; normal: faster, a power loss may lose the last commits")
    .choices(["full", "normal"]).env("ORCHESTRATOR_SQLITE_SYNCHRONOUS").default("full");
export const slotsOption = (): Option => new Option("--slots <n>", "tasks the worker runs at once (1-10000)").env("ORCHESTRATOR_WORKER_SLOTS").default(10).argParser(integer);
export const handlersOption = (): Option =>
  new Option("--handlers <path>", "module exporting more handlers ({ handlers: { name: async (ctx) => result } })").env("ORCHESTRATOR_HANDLERS");
