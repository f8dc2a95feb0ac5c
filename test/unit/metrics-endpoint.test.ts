// The HTTP listener of a service (src/metrics/http-endpoint.ts) and the bounded name labels
// (src/metrics/registry.ts), in one process: what a probe and a scraper get, with and without keys.
import { Counter } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../packages/client/src/logger.js";
import { startHttpEndpoint, type HttpEndpoint } from "../../packages/server/src/metrics/http-endpoint.js";
import { ByName, createRegistry, NameLabels, otherNamesLabel } from "../../packages/server/src/metrics/registry.js";
import { PrometheusSchedulerMetrics } from "../../packages/server/src/metrics/scheduler-metrics.js";
import type { WaitingCount } from "../../packages/server/src/store/store.js";
import { compileSchedulerOptions } from "../../packages/server/src/scheduler/options.js";
import { compileGatewayOptions } from "../../packages/server/src/gateway/options.js";
import { KeyRing } from "../../packages/server/src/util/auth.js";
import { httpGet, parseExposition, Scrape } from "../helpers/metrics.js";

const logger = createLogger({ level: "silent" });
const metricsKey = "m".repeat(24);
const clientKey = "c".repeat(24);

describe("a service's HTTP listener", () => {
  const endpoints: HttpEndpoint[] = [];
  afterEach(async () => {
    for (const endpoint of endpoints.splice(0)) await endpoint.close();
  });

  async function start(keys: KeyRing, notReady: () => string | null = () => null): Promise<{ endpoint: HttpEndpoint; counter: Counter }> {
    const registry = createRegistry();
    const counter = new Counter({ name: "test_things_total", help: "things", registers: [registry] });
    const endpoint = await startHttpEndpoint({ service: "Test", host: "127.0.0.1", port: 0, registry, keys, notReady, logger });
    endpoints.push(endpoint);
    return { endpoint, counter };
  }

  it("serves the registry's series and the process metrics, /healthz, /readyz, and 404 elsewhere", async () => {
    let reason: string | null = "the scheduler is starting";
    const { endpoint, counter } = await start(KeyRing.empty, () => reason);
    counter.inc(3);
    const metrics = await httpGet(endpoint.address, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const scraped = new Scrape(parseExposition(metrics.body));
    expect(scraped.value("test_things_total")).toBe(3);
    expect(scraped.has("process_cpu_user_seconds_total")).toBe(true);
    expect(scraped.has("nodejs_eventloop_lag_seconds")).toBe(true);
    expect(await httpGet(endpoint.address, "/healthz")).toMatchObject({ status: 200, body: "ok\n" });
    expect(await httpGet(endpoint.address, "/readyz")).toMatchObject({ status: 503, body: "not ready: the scheduler is starting\n" });
    reason = null;
    expect(await httpGet(endpoint.address, "/readyz")).toMatchObject({ status: 200, body: "ready\n" });
    expect((await httpGet(endpoint.address, "/metricsx")).status).toBe(404);
  });

  it("with keys, serves /metrics only to a metrics key (401 says what to send); the probes stay open", async () => {
    const { endpoint } = await start(KeyRing.parse(`metrics:${metricsKey},client:${clientKey}`, "test"));
    const missing = await httpGet(endpoint.address, "/metrics");
    expect(missing.status).toBe(401);
    expect(missing.body).toMatch(/needs a key of role metrics: send the header "Authorization: Bearer <key>"/);
    const wrongRole = await httpGet(endpoint.address, "/metrics", clientKey);
    expect(wrongRole.status).toBe(401);
    expect(wrongRole.body).toMatch(/not a metrics key/);
    expect(wrongRole.body).not.toContain(clientKey);
    expect((await httpGet(endpoint.address, "/metrics", "x".repeat(24))).status).toBe(401);
    expect((await httpGet(endpoint.address, "/metrics", metricsKey)).status).toBe(200);
    expect(await httpGet(endpoint.address, "/healthz")).toMatchObject({ status: 200, body: "ok\n" });
    expect(await httpGet(endpoint.address, "/readyz")).toMatchObject({ status: 200, body: "ready\n" });
  });

  it("refuses a port in use with a message naming the address", async () => {
    const { endpoint } = await start(KeyRing.empty);
    await expect(startHttpEndpoint({ service: "Test", host: "127.0.0.1", port: endpoint.port, registry: createRegistry(), keys: KeyRing.empty, notReady: () => null, logger }))
      .rejects.toThrow(`cannot listen on 127.0.0.1:${endpoint.port} for HTTP`);
  });
});

describe("task name labels", () => {
  it("keeps the first names as labels and adds up the rest under one label", () => {
    const labels = new NameLabels(2);
    expect([labels.of("a"), labels.of("b"), labels.of("c"), labels.of("a"), labels.of("d")]).toEqual(["a", "b", otherNamesLabel, "a", otherNamesLabel]);
    const made: string[] = [];
    const byName = new ByName(new NameLabels(1), (label) => {
      made.push(label);
      return { label };
    });
    expect([byName.of("x").label, byName.of("y").label, byName.of("z").label, byName.of("x").label]).toEqual(["x", otherNamesLabel, otherNamesLabel, "x"]);
    expect(made).toEqual(["x", otherNamesLabel]);
  });
});

describe("the Scheduler's waiting-task gauge", () => {
  it("asks the store once for scrapes close together, and again once the count is a second old", async () => {
    const registry = createRegistry();
    let counts = 0;
    let now = 0;
    const waiting: WaitingCount[] = [{ name: "resize", state: "queued", count: 4 }, { name: "resize", state: "retrying", count: 1 }];
    new PrometheusSchedulerMetrics(registry, {
      workers: () => [{ slots: 4, running: 1, draining: false }, { slots: 2, running: 2, draining: true }],
      waitingByName: () => {
        counts++;
        return Promise.resolve(waiting);
      },
    }, logger, () => now);
    const first = new Scrape(parseExposition(await registry.metrics()));
    expect(first.value("orchestrator_tasks_waiting", { name: "resize", state: "queued" })).toBe(4);
    expect(first.value("orchestrator_tasks_waiting", { name: "resize", state: "retrying" })).toBe(1);
    expect(first.value("orchestrator_workers")).toBe(2);
    expect([first.value("orchestrator_worker_slots", { state: "busy" }), first.value("orchestrator_worker_slots", { state: "free" })]).toEqual([3, 3]);
    await Promise.all([registry.metrics(), registry.metrics()]);
    now = 999;
    await registry.metrics();
    expect(counts).toBe(1);
    now = 1000;
    await registry.metrics();
    expect(counts).toBe(2);
  });
});

describe("the httpPort option", () => {
  it("is off (null) by default, takes a port (0: the system picks one), and refuses anything else when the options are compiled", () => {
    expect(compileSchedulerOptions({}).httpPort).toBeNull();
    expect(compileGatewayOptions({}).httpPort).toBeNull();
    expect(compileSchedulerOptions({ httpPort: 0 }).httpPort).toBe(0);
    expect(compileGatewayOptions({ httpPort: 9464 }).httpPort).toBe(9464);
    for (const bad of [-1, 65536, 1.5, Number.NaN]) {
      expect(() => compileSchedulerOptions({ httpPort: bad })).toThrow(/httpPort must be a port \(0-65535\), or null/);
      expect(() => compileGatewayOptions({ httpPort: bad })).toThrow(/httpPort must be a port/);
    }
  });
});
