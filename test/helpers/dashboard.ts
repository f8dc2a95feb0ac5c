// A keyed cluster whose Gateway serves the dashboard on an HTTP port: the client, gateway, worker
// and metrics keys of test/e2e/security.test.ts's kind, each role its own random key.
import { randomBytes } from "node:crypto";
import { Cluster, freePort } from "./processes.js";
import type { StoreBackend } from "./stores.js";

const key = (): string => randomBytes(32).toString("hex");

export interface DashboardRig {
  cluster: Cluster;
  /** http://127.0.0.1:<port> of the Gateway's HTTP listener. */
  baseUrl: string;
  keys: { client: string; gateway: string; worker: string; metrics: string };
  /** `authorization: Bearer <client key>`, for fetch. */
  clientAuth: Record<string, string>;
}

export async function startDashboardRig(store: StoreBackend = "sqlite", options: { workerArgs?: string[] } = {}): Promise<DashboardRig> {
  const keys = { client: key(), gateway: key(), worker: key(), metrics: key() };
  const httpPort = await freePort();
  const cluster = await new Cluster({
    store,
    env: { ORCHESTRATOR_KEYS: `client:${keys.client},gateway:${keys.gateway},worker:${keys.worker},metrics:${keys.metrics}` },
    gatewayEnv: { ORCHESTRATOR_GATEWAY_KEY: keys.gateway },
    workerEnv: { ORCHESTRATOR_WORKER_KEY: keys.worker },
    gatewayArgs: ["--http-port", String(httpPort)],
    workerArgs: options.workerArgs ?? ["--slots", "4"],
    client: { apiKey: keys.client },
  }).start();
  return { cluster, baseUrl: `http://127.0.0.1:${httpPort}`, keys, clientAuth: { authorization: `Bearer ${keys.client}` } };
}
