import type { Logger } from "orchestrator-ts-client/internal";
import { flushLogger } from "orchestrator-ts-client/internal";

/** A started service, as the CLI and the tests hold it. */
export interface RunningService {
  readonly name: "Gateway" | "Scheduler" | "Worker";
  readonly address: string;
  readonly logger: Logger;
  stop(): Promise<void>;
}

/** Stops the services on the first SIGINT or SIGTERM, in the given order, then exits. */
export function stopOnSignals(services: readonly RunningService[], onDone: (code: number) => void = (code) => process.exit(code)): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    for (const service of services) service.logger.info({ signal }, `Stopping ${service.name} service`);
    void (async () => {
      let code = 0;
      for (const service of services) {
        try {
          await service.stop();
        } catch (error) {
          code = 1;
          service.logger.error({ err: error }, `${service.name} service did not stop cleanly`);
        }
        flushLogger(service.logger);
      }
      onDone(code);
    })();
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}
