import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

export interface LoggerOptions {
  level: LogLevel;
  /** "json" for machines, "pretty" for people; "auto" picks pretty on a terminal. */
  format?: "json" | "pretty" | "auto";
  service?: string;
}

/**
 * Structured logs through pino: JSON lines when stdout is not a terminal, and on a terminal one
 * readable line per record, `2026-01-29T15:23:45.123Z INFO Task submitted task_id=...`.
 */
export function createLogger(options: LoggerOptions): Logger {
  const format = options.format === "auto" || options.format === undefined ? (process.stdout.isTTY ? "pretty" : "json") : options.format;
  const base = options.service ? { service: options.service } : {};
  const settings = {
    level: options.level as LevelWithSilent,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (format === "pretty") return pino(settings, { write: (line: string) => process.stdout.write(prettyLine(line)) });
  return pino(settings, pino.destination({ dest: 1, sync: false }));
}

const hiddenKeys = new Set(["level", "time", "msg", "service"]);

export function prettyLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const fields = Object.entries(record)
    .filter(([key]) => !hiddenKeys.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const level = String(record.level ?? "info").toUpperCase();
  return [String(record.time ?? new Date().toISOString()), level, String(record.msg ?? ""), ...fields].join(" ") + "\n";
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // A pretty logger writes synchronously and has nothing to flush.
  }
}
