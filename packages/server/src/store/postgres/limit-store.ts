import type { ConcurrencyLimit, RateLimit } from "../store.js";
import type { Write } from "./group-commit.js";
import { toConcurrencyLimit, toRateLimit, type Row } from "./rows.js";
import { clearLimitSql, listLimitsSql, setLimitSql } from "./sql/concurrency.js";
import { clearRateLimitSql, listRateLimitsSql, setRateLimitSql } from "./sql/rate-limits.js";

type Run = <T>(write: Write<T>) => Promise<T>;
type Read = (text: string, values?: unknown[]) => Promise<Row[]>;

// A name's concurrency and rate limits on PostgreSQL: set, cleared and listed (TaskStore's methods
// of those names). A change that may let waiting tasks start puts the name in the commit's hint,
// which wakes every Scheduler as an enqueue's does.

export function setConcurrencyLimit(run: Run, name: string, maxRunning: number, now: number): Promise<ConcurrencyLimit> {
  return run(async (tx) => {
    const { rows: [row] } = await tx.query(setLimitSql, [name, maxRunning, now + tx.skewMs]);
    if (!row) throw new Error(`setting the concurrency limit of ${name} returned no row`);
    tx.log.workAvailable(name);
    return toConcurrencyLimit(row, tx.skewMs);
  });
}

export function clearConcurrencyLimit(run: Run, name: string): Promise<ConcurrencyLimit | null> {
  return run(async (tx) => {
    const { rows: [row] } = await tx.query(clearLimitSql, [name]);
    if (!row) return null;
    tx.log.workAvailable(name);
    return toConcurrencyLimit(row, tx.skewMs);
  });
}

export async function listConcurrencyLimits(read: Read, skewMs: number): Promise<ConcurrencyLimit[]> {
  return (await read(listLimitsSql)).map((row) => toConcurrencyLimit(row, skewMs));
}

export function setRateLimit(run: Run, name: string, maxStarts: number, perMs: number, now: number, perKey: boolean): Promise<RateLimit> {
  return run(async (tx) => {
    const { rows: [row] } = await tx.query(setRateLimitSql, [name, maxStarts, perMs, now + tx.skewMs, perKey]);
    if (!row) throw new Error(`setting the rate limit of ${name} returned no row`);
    tx.log.workAvailable(name);
    return toRateLimit(row, tx.skewMs);
  });
}

export function clearRateLimit(run: Run, name: string): Promise<RateLimit | null> {
  return run(async (tx) => {
    const { rows: [row] } = await tx.query(clearRateLimitSql, [name]);
    if (!row) return null;
    tx.log.workAvailable(name);
    return toRateLimit(row, tx.skewMs);
  });
}

export async function listRateLimits(read: Read, skewMs: number): Promise<RateLimit[]> {
  return (await read(listRateLimitsSql)).map((row) => toRateLimit(row, skewMs));
}
