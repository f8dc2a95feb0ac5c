// The quick-start guide, step by step, as a new user runs it: three separate processes, a generic
// gRPC client (buf curl, with no .proto file: server reflection), Ctrl+C to stop.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, repoRoot, startService, tempDir, type ServiceProcess } from "../helpers/processes.js";

const run = promisify(execFile);
const buf = join(repoRoot, "node_modules/.bin/buf");

async function bufCurl(url: string, body?: unknown): Promise<unknown[]> {
  const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...(body === undefined ? [] : ["-d", JSON.stringify(body)]), url];
  const { stdout } = await run(buf, args, { timeout: 20_000 });
  // buf curl prints one pretty JSON object per message.
  return stdout.split(/\n(?=\{)/).filter((chunk) => chunk.trim()).map((chunk) => JSON.parse(chunk) as unknown);
}

/**
 * The one-line `npx buf curl` commands without a request body in the README's "generic gRPC client"
 * block, each with the answer the README shows in the `# ` lines under it.
 */
function readmeReadCommands(): Array<{ args: string[]; url: string; shown: string[] }> {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### The guide's flow with a generic gRPC client"));
  const lines = (/```bash\n([\s\S]*?)```/.exec(section)?.[1] ?? "").split("\n");
  const commands: Array<{ args: string[]; url: string; shown: string[] }> = [];
  lines.forEach((line, index) => {
    if (!line.startsWith("npx buf curl ") || line.endsWith("\\") || line.includes(" -d ")) return;
    const words = line.split(/\s+/).slice(2); // without "npx buf"
    const shown: string[] = [];
    for (let next = index + 1; lines[next]?.startsWith("# "); next++) shown.push((lines[next] ?? "").slice(2).trim());
    commands.push({ args: words.slice(0, -1), url: words.at(-1) ?? "", shown });
  });
  return commands;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

describe("quick start: three processes and a generic gRPC client", () => {
  const data = tempDir();
  const ports = { gateway: 0, scheduler: 0, worker: 0 };
  let scheduler: ServiceProcess;
  let worker: ServiceProcess;
  let gateway: ServiceProcess;

  beforeAll(async () => {
    ports.scheduler = await freePort();
    ports.worker = await freePort();
    ports.gateway = await freePort();
    scheduler = await startService("scheduler", ["--port", String(ports.scheduler), "--data-dir", data.path]);
    worker = await startService("worker", ["--port", String(ports.worker), "--scheduler", `127.0.0.1:${ports.scheduler}`]);
    gateway = await startService("gateway", ["--port", String(ports.gateway), "--scheduler", `127.0.0.1:${ports.scheduler}`]);
    await worker.waitForMessage("Worker registered with the scheduler");
  });

  afterAll(async () => {
    await Promise.all([gateway, worker, scheduler].map((service) => service?.stop("SIGKILL")));
    data.remove();
  });

  it("prints the guide's listening line for each service", () => {
    expect(scheduler.logs.some((r) => r.msg === `Scheduler service listening on 127.0.0.1:${ports.scheduler}`)).toBe(true);
    expect(worker.logs.some((r) => r.msg === `Worker service listening on 127.0.0.1:${ports.worker}`)).toBe(true);
    expect(gateway.logs.some((r) => r.msg === `Gateway service listening on 127.0.0.1:${ports.gateway}`)).toBe(true);
    expect(existsSync(join(data.path, "orchestrator.db"))).toBe(true);
  });

  it.each([
    ["Gateway", "gateway"],
    ["Scheduler", "scheduler"],
    ["Worker", "worker"],
  ] as const)("answers orchestrator.v1.%s/HealthCheck and grpc.health.v1.Health/Check", async (service, key) => {
    const [health] = await bufCurl(`http://127.0.0.1:${ports[key]}/orchestrator.v1.${service}/HealthCheck`);
    expect(health).toEqual({ healthy: true, version: "0.1.0" });
    const [standard] = await bufCurl(`http://127.0.0.1:${ports[key]}/grpc.health.v1.Health/Check`, {});
    expect(standard).toEqual({ status: "SERVING" });
  });

  it("answers each read-only buf curl command of the README's guide with what the README shows under it", async () => {
    const commands = readmeReadCommands();
    expect(commands.map((c) => c.url.replace(/^http:\/\/127\.0\.0\.1:/, ""))).toEqual([
      "50051/orchestrator.v1.Gateway/HealthCheck",
      "50052/orchestrator.v1.Scheduler/HealthCheck",
      "50053/orchestrator.v1.Worker/HealthCheck",
      "50051/grpc.health.v1.Health/Check",
      "50051",
    ]);
    const testPorts: Record<string, number> = { "50051": ports.gateway, "50052": ports.scheduler, "50053": ports.worker };
    for (const { args, url, shown } of commands) {
      const here = url.replace(/:(5005[123])\b/, (_, port: string) => `:${testPorts[port]}`);
      const { stdout } = await run(buf, [...args, here], { timeout: 20_000 });
      if (args.includes("--list-services")) expect(stdout.trim().split("\n"), url).toEqual(shown);
      else expect(JSON.parse(stdout), url).toEqual(JSON.parse(shown.join("\n")));
    }
  });

  it.each([
    ["gateway", "orchestrator.v1.Gateway"],
    ["scheduler", "orchestrator.v1.Scheduler"],
    ["worker", "orchestrator.v1.Worker"],
  ] as const)("lists by reflection only what the %s's port serves: its service, health checking and reflection", async (key, service) => {
    const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://127.0.0.1:${ports[key]}`], { timeout: 20_000 });
    expect(stdout.trim().split("\n")).toEqual(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", service]);
  });

  it("runs the guide's SubmitTask and streams its progress to the end, late subscribers included", async () => {
    const before = Math.floor(Date.now() / 1000);
    const [submitted] = (await bufCurl(`http://127.0.0.1:${ports.gateway}/orchestrator.v1.Gateway/SubmitTask`, {
      name: "data-processing-job",
      description: "Process and analyze customer data",
      payload: "SGVsbG8gV29ybGQ=",
      timeout_secs: 300,
      max_retries: 3,
    })) as Array<{ task_id: string; timestamp: string }>;
    expect(Object.keys(submitted ?? {}).sort()).toEqual(["task_id", "timestamp"]);
    expect(submitted?.task_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number(submitted?.timestamp)).toBeGreaterThanOrEqual(before);

    type Update = { task_id: string; sequence: string; state: string; attempt?: number; percent?: number; message?: string; timestamp_ms: string; result?: string };
    const live = (await bufCurl(`http://127.0.0.1:${ports.gateway}/orchestrator.v1.Gateway/SubscribeProgress`, { task_id: submitted?.task_id })) as Update[];
    expect(live.map((u) => Number(u.sequence))).toEqual(live.map((_, i) => i + 1));
    expect(live[0]?.state).toBe("TASK_STATE_QUEUED");
    const last = live.at(-1);
    expect(last?.state).toBe("TASK_STATE_SUCCEEDED");
    const progress = live.filter((u) => u.state === "TASK_STATE_RUNNING" && (u.percent ?? 0) > 0);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    const result = JSON.parse(Buffer.from(last?.result ?? "", "base64").toString("utf8")) as { words: number; uppercase: string; bytes: number };
    expect(result).toMatchObject({ words: 2, uppercase: "HELLO WORLD", bytes: 11 });
    for (const update of live) {
      expect(update.task_id).toBe(submitted?.task_id);
      expect(Number(update.timestamp_ms)).toBeGreaterThan(0);
    }

    // A subscriber arriving after the end still gets every update, and the stream ends.
    const late = (await bufCurl(`http://127.0.0.1:${ports.gateway}/orchestrator.v1.Gateway/SubscribeProgress`, { task_id: submitted?.task_id })) as Update[];
    expect(late).toEqual(live);
    const resumed = (await bufCurl(`http://127.0.0.1:${ports.gateway}/orchestrator.v1.Gateway/SubscribeProgress`, { task_id: submitted?.task_id, after_sequence: 2 })) as Update[];
    expect(resumed).toEqual(live.slice(2));

    expect(scheduler.logs.some((r) => r.msg === "Task submitted" && r.task_id === submitted?.task_id)).toBe(true);
    expect(worker.logs.some((r) => r.task_id === submitted?.task_id && r.worker_id)).toBe(true);
  });

  it("stops each service on Ctrl+C with the guide's line and frees its port", async () => {
    for (const [service, name, port] of [[gateway, "Gateway", ports.gateway], [worker, "Worker", ports.worker], [scheduler, "Scheduler", ports.scheduler]] as const) {
      const exit = await service.stop("SIGINT");
      expect(exit.code).toBe(0);
      expect(service.logs.some((r) => r.msg === `${name} service stopped`)).toBe(true);
      expect(await portIsFree(port)).toBe(true);
    }
  });
});
