// `npm start` is `orchestrator dev`: all three services in one process on the embedded store.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { freePort, repoRoot, ServiceProcess, tempDir } from "../helpers/processes.js";

const run = promisify(execFile);
const buf = join(repoRoot, "node_modules/.bin/buf");

describe("orchestrator dev", () => {
  const data = tempDir();
  let dev: ServiceProcess | undefined;

  afterAll(async () => {
    await dev?.stop("SIGKILL");
    data.remove();
  });

  it("runs Gateway, Scheduler and Worker in one process, configured by ORCHESTRATOR_* variables, and stops on Ctrl+C", async () => {
    const ports = { gateway: await freePort(), scheduler: await freePort(), worker: await freePort() };
    dev = new ServiceProcess("dev", [], {
      ORCHESTRATOR_GATEWAY_PORT: String(ports.gateway),
      ORCHESTRATOR_SCHEDULER_PORT: String(ports.scheduler),
      ORCHESTRATOR_WORKER_PORT: String(ports.worker),
      ORCHESTRATOR_DATA_DIR: data.path,
      ORCHESTRATOR_LOG_LEVEL: "info",
    });
    await dev.waitForMessage(`Scheduler service listening on 127.0.0.1:${ports.scheduler}`);
    await dev.waitForMessage(`Worker service listening on 127.0.0.1:${ports.worker}`);
    await dev.waitForMessage(`Gateway service listening on 127.0.0.1:${ports.gateway}`);
    await dev.waitForMessage("Worker registered with the scheduler");
    expect(existsSync(join(data.path, "orchestrator.db"))).toBe(true);

    const client = new OrchestratorClient({ address: `127.0.0.1:${ports.gateway}` });
    try {
      const { taskId } = await client.submit({ name: "data-processing-job", payload: "Hello World" });
      const terminal = await client.waitForResult(taskId);
      expect(terminal.state).toBe("succeeded");
    } finally {
      client.close();
    }

    // Each port lists by reflection only the service it serves (and health checking, reflection).
    for (const [key, service] of [["gateway", "Gateway"], ["scheduler", "Scheduler"], ["worker", "Worker"]] as const) {
      const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://127.0.0.1:${ports[key]}`], { timeout: 20_000 });
      expect(stdout.trim().split("\n")).toEqual(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", `orchestrator.v1.${service}`]);
    }

    const exit = await dev.stop("SIGINT");
    expect(exit.code).toBe(0);
    const stopped = dev.logs.filter((r) => typeof r.msg === "string" && r.msg.endsWith(" service stopped")).map((r) => r.msg);
    expect(stopped).toEqual(["Gateway service stopped", "Worker service stopped", "Scheduler service stopped"]);
  });
});
