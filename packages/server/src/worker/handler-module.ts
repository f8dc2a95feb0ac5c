import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import type { HandlerMap } from "orchestrator-ts-client/internal";

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/**
 * The handler map inside an imported module, whichever way it was written:
 * - ESM `export const handlers = {...}`, or CommonJS `module.exports = { handlers }` when Node's
 *   export detection sees the name: the `handlers` export;
 * - CommonJS `module.exports = { handlers: {...} }` (which Node does not detect as a named export)
 *   and ESM `export default { handlers: {...} }`: the default export's `handlers`;
 * - ESM `export default {...}`, CommonJS `module.exports = {...}` and `exports.name = fn`: the
 *   default export itself (for CommonJS, Node's default export is `module.exports`).
 * A `handlers` that is a function is a handler named "handlers", not the map.
 */
function handlerMapOf(loaded: Record<string, unknown>): unknown {
  if (isObject(loaded.handlers)) return loaded.handlers;
  if (isObject(loaded.default) && isObject(loaded.default.handlers)) return loaded.default.handlers;
  return loaded.default;
}

/**
 * Loads the operator's handlers from a module path given at start-up (ESM or CommonJS; see
 * handlerMapOf). Nothing is ever loaded because of a request.
 */
export async function loadHandlerModule(path: string): Promise<HandlerMap> {
  const url = pathToFileURL(resolve(path)).href;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw OrchestratorError.invalidArgument(`cannot load the handler module ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const candidate = handlerMapOf(loaded);
  if (!isObject(candidate)) {
    throw OrchestratorError.invalidArgument(
      `the handler module ${path} must export its handlers, an object of { name: async (ctx) => result }: ` +
        "`export const handlers = {...}` or `export default {...}` (ESM), `module.exports = { handlers: {...} }` or `exports.name = async (ctx) => ...` (CommonJS)",
    );
  }
  for (const [name, handler] of Object.entries(candidate)) {
    if (typeof handler !== "function") throw OrchestratorError.invalidArgument(`handler "${name}" in ${path} is not a function`);
  }
  return candidate as HandlerMap;
}
