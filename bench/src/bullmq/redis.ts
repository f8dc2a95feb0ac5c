// The Redis the BullMQ baseline runs on (ORCHESTRATOR_BENCH_REDIS_URL, default redis://127.0.0.1:6379),
// and its durability for the run: AOF on with appendfsync everysec while a BullMQ run is measured,
// the server's previous settings put back after it (on error and on SIGINT/SIGTERM too).
import { Redis } from "ioredis";
import { sleep } from "../util.js";

export const benchRedisUrl = process.env.ORCHESTRATOR_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/** What BullMQ's Queue, Worker and QueueEvents are given as `connection` (plain options, serialisable to the children). */
export interface RedisOptions {
  host: string;
  port: number;
  db?: number;
  username?: string;
  password?: string;
}

export function redisOptions(url = benchRedisUrl): RedisOptions {
  const parsed = new URL(url);
  const options: RedisOptions = { host: parsed.hostname || "127.0.0.1", port: Number(parsed.port || 6379) };
  const db = parsed.pathname.replace(/^\//, "");
  if (db) options.db = Number(db);
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  return options;
}

/** Completed jobs are kept, as BullMQ does by default and as our store keeps finished tasks (see BENCHMARKS.md). */
export const bullJobOptions = { removeOnComplete: false, removeOnFail: false } as const;

/** The Redis URL without its password, for the report. */
export function redisLabel(url = benchRedisUrl): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** An administrative connection that fails fast instead of retrying forever. */
export function adminConnection(options = redisOptions()): Redis {
  return new Redis({ ...options, lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 1, retryStrategy: () => null });
}

export interface AofSettings {
  appendonly: string;
  appendfsync: string;
}

/** The durability the BullMQ runs are measured with (the issue's: AOF, fsync once a second). */
export const runAof: AofSettings = { appendonly: "yes", appendfsync: "everysec" };

async function configGet(redis: Redis, key: string): Promise<string> {
  const reply = (await redis.config("GET", key)) as string[];
  const value = reply[1];
  if (value === undefined) throw new Error(`Redis answered CONFIG GET ${key} with nothing`);
  return value;
}

export async function readAof(redis: Redis): Promise<AofSettings> {
  return { appendonly: await configGet(redis, "appendonly"), appendfsync: await configGet(redis, "appendfsync") };
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, "m").exec(info)?.[1]?.trim();
}

/**
 * Sets the settings, then (turning AOF on starts a rewrite of the whole data set into a new AOF
 * file) waits until the AOF is on and no rewrite is running, so the run does not measure it.
 */
async function applyAof(redis: Redis, settings: AofSettings, timeoutMs = 60_000): Promise<void> {
  await redis.config("SET", "appendfsync", settings.appendfsync);
  await redis.config("SET", "appendonly", settings.appendonly);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await redis.info("persistence");
    const enabled = infoField(info, "aof_enabled") === "1";
    const rewriting = infoField(info, "aof_rewrite_in_progress") === "1" || infoField(info, "aof_rewrite_scheduled") === "1";
    if (enabled === (settings.appendonly === "yes") && !rewriting) return;
    if (Date.now() > deadline) throw new Error(`Redis did not finish switching appendonly to ${settings.appendonly} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The pid of a Redis server on this machine (its CPU is the BullMQ run's own), or undefined for a remote one. */
export async function redisServerPid(redis: Redis): Promise<number | undefined> {
  const host = redis.options.host ?? "";
  if (!["127.0.0.1", "localhost", "::1"].includes(host)) return undefined;
  const pid = Number(infoField(await redis.info("server"), "process_id"));
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The settings the last BullMQ run found, ran with and put back, for the report. */
export interface DurabilityRecord {
  redis: string;
  found: AofSettings;
  during: AofSettings;
  restored: AofSettings;
}

export let lastDurability: DurabilityRecord | undefined;

/** What a run gives withRunDurability's body: Redis's pid (when local), and a way to be cleaned up on a signal. */
export interface DurableRun {
  redisPid: number | undefined;
  /** `cleanup` runs (before the settings are restored) if SIGINT/SIGTERM ends the bench during the run. */
  onSignal(cleanup: () => Promise<void>): void;
}

/**
 * Runs `body` with AOF on and appendfsync everysec, then restores what was there, whatever
 * happens: on a throw, and on SIGINT/SIGTERM (after the body's cleanup; the signal is raised again
 * once restored).
 */
export async function withRunDurability<T>(body: (run: DurableRun) => Promise<T>): Promise<T> {
  const redis = adminConnection();
  await redis.connect().catch((error: unknown) => {
    throw new Error(`the BullMQ baseline needs Redis at ${redisLabel()} (ORCHESTRATOR_BENCH_REDIS_URL; --no-baseline skips it): ${error instanceof Error ? error.message : String(error)}`);
  });
  let found: AofSettings | undefined;
  let restoring: Promise<void> | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  const restore = (): Promise<void> => {
    restoring ??= (async () => {
      if (!found) return;
      await applyAof(redis, found);
      const restored = await readAof(redis);
      lastDurability = { redis: redisLabel(), found, during: runAof, restored };
      if (restored.appendonly !== found.appendonly || restored.appendfsync !== found.appendfsync) {
        throw new Error(`Redis's settings were not restored: found ${JSON.stringify(found)}, now ${JSON.stringify(restored)}`);
      }
    })();
    return restoring;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`${signal}: removing the BullMQ run's queue and restoring Redis's appendonly/appendfsync before exiting\n`);
    void (cleanup ? cleanup() : Promise.resolve()).catch(() => undefined).then(restore).catch((error: unknown) => process.stderr.write(`could not restore Redis's settings: ${String(error)}\n`)).finally(() => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.kill(process.pid, signal);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    found = await readAof(redis);
    await applyAof(redis, runAof);
    const redisPid = await redisServerPid(redis);
    return await body({ redisPid, onSignal: (fn) => { cleanup = fn; } });
  } finally {
    try {
      await restore();
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      redis.disconnect();
    }
  }
}
