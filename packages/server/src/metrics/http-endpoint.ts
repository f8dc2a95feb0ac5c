import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { Code, OrchestratorError, type Logger } from "orchestrator-ts-client/internal";
import { isLoopbackHost, type KeyRing, type Role } from "../util/auth.js";

/**
 * The role whose keys may read /metrics. A role of its own, which no gRPC method accepts: a scrape
 * key in a Prometheus config can read the metrics and do nothing else.
 */
export const metricsRole: Role = "metrics";

/**
 * More paths on the listener (the Gateway's dashboard, dashboard/routes.ts): called for every
 * request other than /metrics, /healthz and /readyz; true when it took the request (it answers).
 */
export type HttpRoutes = (request: IncomingMessage, response: ServerResponse, path: string) => boolean;

export interface HttpEndpointOptions {
  /** "Scheduler", "Gateway" or "Worker", for logs and messages. */
  service: string;
  host: string;
  port: number;
  registry: Registry;
  /** The service's keys: when any is configured, /metrics needs a `metrics` key. */
  keys: KeyRing;
  /** Null when the service is ready; otherwise why not, in one line. */
  notReady(): string | null;
  logger: Logger;
  routes?: HttpRoutes;
}

export interface HttpEndpoint {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The service's HTTP listener: /metrics (Prometheus text exposition), /healthz (200 while the
 * process runs) and /readyz (200 when the service can do its work, else 503 and the reason).
 * Probes carry no secrets, so /healthz and /readyz stay open; they say ok or not ready, nothing more.
 */
export async function startHttpEndpoint(options: HttpEndpointOptions): Promise<HttpEndpoint> {
  const { service, host, registry, keys, logger } = options;
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    const own = path === "/healthz" || path === "/readyz" || path === "/metrics";
    if (!own && options.routes?.(request, response, path)) return;
    if (request.method !== "GET" && request.method !== "HEAD") {
      answer(response, 405, "only GET and HEAD are served here\n", { allow: "GET, HEAD" });
    } else if (path === "/healthz") {
      answer(response, 200, "ok\n");
    } else if (path === "/readyz") {
      const reason = options.notReady();
      answer(response, reason === null ? 200 : 503, reason === null ? "ready\n" : `not ready: ${reason}\n`);
    } else if (path === "/metrics") {
      const refused = keys.enabled ? scrapeRefusal(keys, request) : null;
      if (refused) {
        logger.warn({ peer: request.socket.remoteAddress, reason: refused }, "Refused a metrics scrape");
        answer(response, 401, `${refused}\n`, { "www-authenticate": 'Bearer realm="orchestrator metrics"' });
        return;
      }
      registry.metrics().then(
        (text) => answer(response, 200, text, { "content-type": registry.contentType }),
        (error: unknown) => {
          logger.warn({ err: error }, "Could not collect the metrics");
          answer(response, 500, "the metrics could not be collected; the service's log says why\n");
        },
      );
    } else {
      answer(response, 404, `not found: this listener serves /metrics, /healthz and /readyz${options.routes ? " and the dashboard (/)" : ""}\n`);
    }
  });
  // A scrape is one short request; an idle or slow connection is not kept.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (error) => reject(new OrchestratorError(Code.Unavailable, `cannot listen on ${host}:${options.port} for HTTP (metrics and health): ${error.message}`, { cause: error })));
    server.listen(options.port, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : options.port);
    });
  });
  const address = `${host}:${port}`;
  if (keys.enabled && !isLoopbackHost(host)) {
    logger.warn({ http_address: address }, "Metrics keys travel in plaintext: the HTTP listener has no TLS; keep it on a network only the scrapers reach");
  }
  logger.info({ http_address: address, metrics_auth: keys.enabled ? "on" : "off" }, `${service} metrics and health${options.routes ? ", and the dashboard," : ""} on http://${address}`);
  return {
    address,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Why a scrape may not read the metrics, or null when it may. Never repeats the key. */
function scrapeRefusal(keys: KeyRing, request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  const key = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  if (key === undefined) return `/metrics needs a key of role ${metricsRole}: send the header "Authorization: Bearer <key>" (Prometheus: authorization.credentials_file in the scrape config)`;
  return keys.rolesOf(key).has(metricsRole) ? null : `the key is not a ${metricsRole} key of this service: /metrics needs "Authorization: Bearer <key>" with a key configured as ${metricsRole}:<key>`;
}

function answer(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers });
  response.end(response.req.method === "HEAD" ? undefined : body);
}
