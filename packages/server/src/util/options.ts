import { OrchestratorError } from "orchestrator-ts-client/internal";

/** Options given by the caller over the defaults; an option left undefined keeps its default. */
export function withDefaults<T extends object>(defaults: Required<T>, options: T): Required<T> {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...defaults, ...given } as Required<T>;
}

/**
 * The port of a service's HTTP listener (metrics, health): null leaves it off, 0 lets the system
 * choose one (as --port 0 does). Checked when the options are compiled.
 */
export function checkHttpPort(value: number | null): number | null {
  if (value === null) return null;
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw OrchestratorError.invalidArgument(`httpPort must be a port (0-65535), or null to serve no HTTP listener, got ${String(value)}`);
  }
  return value;
}
