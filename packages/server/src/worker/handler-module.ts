import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import type { HandlerMap } from "orchestrator-ts-client/internal";

/**
 * Loads the operator's handlers from a module path given at start-up: its `handlers` export, or
 * its default export, maps task names to functions. Nothing is ever loaded because of a request.
 */
export async function loadHandlerModule(path: string): Promise<HandlerMap> {
  const url = pathToFileURL(resolve(path)).href;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw OrchestratorError.invalidArgument(`cannot load the handler module ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const candidate = loaded.handlers ?? loaded.default;
  if (typeof candidate !== "object" || candidate === null) {
    throw OrchestratorError.invalidArgument(`the handler module ${path} must export "handlers" (or a default export): an object of { name: async (ctx) => result }`);
  }
  for (const [name, handler] of Object.entries(candidate)) {
    if (typeof handler !== "function") throw OrchestratorError.invalidArgument(`handler "${name}" in ${path} is not a function`);
  }
  return candidate as HandlerMap;
}
