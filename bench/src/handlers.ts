// Handlers the benchmark's worker process loads with --handlers dist/bench/handlers.js.
import { performance } from "node:perf_hooks";
import type { HandlerMap } from "orchestrator-ts-client/internal";

export const handlers: HandlerMap = {
  /** Does nothing but say when it started: wall-clock ms with sub-ms resolution (see util.wallNow). */
  "bench-clock": () => performance.timeOrigin + performance.now(),
};
