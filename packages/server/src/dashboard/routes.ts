// The dashboard on the Gateway's HTTP listener: the built page (static files, no key needed: it
// holds no data) and its JSON API under /api/, which needs a client key when the Gateway has keys.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Code, OrchestratorError, type Logger } from "orchestrator-ts-client/internal";
import type { Gateway } from "../gateway/gateway.js";
import type { HttpRoutes } from "../metrics/http-endpoint.js";
import { bearerKey, keyRefusal, type KeyRing } from "../util/auth.js";
import { DashboardCalls, filterIsEmpty, previewBytes, toTaskJson } from "./gateway-api.js";
import { filterFromQuery, intParameter, sendError, sendJson } from "./http.js";
import { defaultLiveOptions, LiveStreams, resumePoint, type LiveOptions } from "./live.js";
import { defaultPublicDir, loadStaticFiles, sendStaticFile } from "./static-files.js";

export interface DashboardOptions {
  gateway: Gateway;
  keys: KeyRing;
  logger: Logger;
  /** The built page; default dist/dashboard/public next to this file. */
  publicDir?: string;
  live?: Partial<LiveOptions>;
}

type Handler = (request: IncomingMessage, response: ServerResponse, params: URLSearchParams, match: RegExpExecArray) => Promise<unknown> | void;

interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  handler: Handler;
}

const taskId = "([0-9A-Za-z_.:-]{1,128})";

/** The route hook of the Gateway's HTTP listener that serves the dashboard. */
export function dashboardRoutes(options: DashboardOptions): HttpRoutes {
  const { gateway, keys, logger } = options;
  const calls = new DashboardCalls(gateway);
  const live = new LiveStreams(gateway, { ...defaultLiveOptions, ...options.live }, logger);
  const files = loadStaticFiles(options.publicDir ?? defaultPublicDir);
  if (files === null) logger.warn({ dir: options.publicDir ?? defaultPublicDir }, "The dashboard page was not built (npm run build makes it); its API is served all the same");

  const routes: Route[] = [
    { method: "GET", pattern: /^\/api\/stats$/, handler: async (_q, response, params) => sendJson(response, 200, await calls.stats(intParameter(params, "minutes", 15, 1, 60))) },
    { method: "GET", pattern: /^\/api\/tasks$/, handler: async (_q, response, params) => {
      sendJson(response, 200, await calls.listTasks(filterFromQuery(params), intParameter(params, "pageSize", 50, 1, 1000), params.get("pageToken") ?? ""));
    } },
    { method: "GET", pattern: /^\/api\/tasks\/count$/, handler: async (_q, response, params) => sendJson(response, 200, { count: await calls.countTasks(filterFromQuery(params)) }) },
    { method: "POST", pattern: /^\/api\/tasks\/retry$/, handler: async (request, response, params) => sendJson(response, 200, { count: await calls.retryTasks(bulkFilter(params), clientKey(request)) }) },
    { method: "POST", pattern: /^\/api\/tasks\/cancel$/, handler: async (request, response, params) => sendJson(response, 200, { count: await calls.cancelTasks(bulkFilter(params), clientKey(request)) }) },
    { method: "GET", pattern: new RegExp(`^/api/tasks/${taskId}$`), handler: async (_q, response, _p, match) => sendJson(response, 200, toTaskJson(await calls.getTask(match[1] as string), true)) },
    { method: "GET", pattern: new RegExp(`^/api/tasks/${taskId}/(payload|result)$`), handler: async (_q, response, _p, match) => {
      const [, id, which] = match as unknown as [string, string, "payload" | "result"];
      sendDownload(response, (await calls.getTask(id))[which], `${id}-${which}.bin`);
    } },
    { method: "POST", pattern: new RegExp(`^/api/tasks/${taskId}/cancel$`), handler: async (request, response, _p, match) => sendJson(response, 200, await calls.cancelTask(match[1] as string, clientKey(request))) },
    { method: "POST", pattern: new RegExp(`^/api/tasks/${taskId}/retry$`), handler: async (request, response, _p, match) => sendJson(response, 200, await calls.retryTask(match[1] as string, clientKey(request))) },
    { method: "GET", pattern: new RegExp(`^/api/tasks/${taskId}/events$`), handler: (request, response, params, match) => {
      const after = resumePoint(request, params);
      const sequence = after === undefined ? 0 : Number(after);
      if (!Number.isSafeInteger(sequence) || sequence < 0) throw OrchestratorError.invalidArgument(`the resume point "${after}" is not a sequence number`);
      live.taskProgress(response, match[1] as string, sequence);
    } },
    { method: "GET", pattern: /^\/api\/events$/, handler: (request, response, params) => live.taskEvents(response, filterFromQuery(params), resumePoint(request, params)) },
    { method: "GET", pattern: /^\/api\/workers$/, handler: async (_q, response) => sendJson(response, 200, { workers: await calls.workers() }) },
    { method: "GET", pattern: /^\/api\/schedules$/, handler: async (_q, response) => sendJson(response, 200, { schedules: await calls.schedules() }) },
    { method: "POST", pattern: /^\/api\/schedules\/([^/]{1,256})\/(pause|resume)$/, handler: async (request, response, _p, match) => {
      sendJson(response, 200, await calls.setSchedulePaused(decoded(match[1] as string), match[2] === "pause", clientKey(request)));
    } },
    { method: "GET", pattern: /^\/api\/paused$/, handler: async (_q, response) => sendJson(response, 200, { paused: await calls.pausedNames() }) },
    // The page encodes the name (it may hold "/" and ":"); the Scheduler checks it.
    { method: "POST", pattern: /^\/api\/names\/(.{1,512})\/(pause|resume)$/, handler: async (request, response, _p, match) => {
      const name = decoded(match[1] as string);
      sendJson(response, 200, match[2] === "pause" ? await calls.pauseName(name, clientKey(request)) : await calls.resumeName(name, clientKey(request)));
    } },
  ];

  const serveApi = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    // Tells the page whether to ask for a key; says nothing else.
    if (path === "/api/config" && request.method === "GET") {
      sendJson(response, 200, { authRequired: keys.enabled, previewBytes });
      return;
    }
    const refused = keyRefusal(keys, ["client"], "the dashboard's API", clientKey(request), 'sign in with a client key (the page sends it as "Authorization: Bearer <key>")');
    if (refused) {
      logger.warn({ peer: request.socket.remoteAddress, path, reason: refused.rawMessage }, "Refused a dashboard API request");
      throw refused;
    }
    if (path === "/api/session") {
      sendJson(response, 200, { signedIn: true });
      return;
    }
    const route = routes.find((candidate) => candidate.pattern.test(path) && candidate.method === request.method);
    if (!route) {
      const other = routes.find((candidate) => candidate.pattern.test(path));
      throw other
        ? new OrchestratorError(Code.InvalidArgument, `${path} takes ${other.method}, not ${request.method}`)
        : new OrchestratorError(Code.NotFound, `no such API path: ${path}`);
    }
    // A page of another site can POST a form here but cannot set this content type without a
    // CORS preflight, which this API never grants: the actions stay the dashboard's own.
    if (request.method === "POST" && !(request.headers["content-type"] ?? "").startsWith("application/json")) {
      throw OrchestratorError.invalidArgument('the dashboard\'s actions need "Content-Type: application/json"');
    }
    await route.handler(request, response, url.searchParams, route.pattern.exec(path) as RegExpExecArray);
  };

  return (request, response, path) => {
    if (path.startsWith("/api/")) {
      const url = new URL(request.url ?? "/", "http://dashboard");
      serveApi(request, response, url).catch((error: unknown) => sendError(response, error));
      return true;
    }
    if ((request.method === "GET" || request.method === "HEAD") && files !== null) return sendStaticFile(files, path, response);
    return false;
  };
}

/** The key the browser signed in with (checked by keyRefusal before any route runs). */
function clientKey(request: IncomingMessage): string | undefined {
  return bearerKey(request.headers.authorization);
}

/** A path segment as the page encoded it; a malformed escape is the caller's error, not ours. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw OrchestratorError.invalidArgument(`the path segment "${segment}" is not valid percent-encoding`);
  }
}

/** A bulk action's filter: it must narrow (an empty one would act on every task). */
function bulkFilter(params: URLSearchParams): ReturnType<typeof filterFromQuery> {
  const filter = filterFromQuery(params);
  if (filterIsEmpty(filter)) throw OrchestratorError.invalidArgument("a bulk action needs a filter: give at least a name, a state, a key or a time");
  return filter;
}

function sendDownload(response: ServerResponse, bytes: Uint8Array, filename: string): void {
  response.writeHead(200, {
    "content-type": "application/octet-stream", "content-length": bytes.byteLength, "cache-control": "no-store",
    "content-disposition": `attachment; filename="${filename}"`, "x-content-type-options": "nosniff",
  });
  response.end(response.req.method === "HEAD" ? undefined : bytes);
}
