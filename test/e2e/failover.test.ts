// Several Scheduler addresses given to a worker and a Gateway (--scheduler a,b): they spread over
// them and move on when one dies. Two Schedulers here each own a data dir of their own (one
// SQLite file has one owner), which is enough to see where calls, streams and workers go.
import { randomUUID } from "node:crypto";
import { credentials } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { SchedulerClient } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Worker } from "../../packages/client/src/worker/worker.js";
import { createLogger } from "../../packages/client/src/logger.js";
import { runCli } from "../helpers/cli.js";
import { callUnary } from "../helpers/grpc.js";
import { fixtureHandlers, freePort, startService, tempDir, type LogRecord, type ServiceProcess } from "../helpers/processes.js";

/** One Scheduler process on its port and data dir, restartable on both. */
class SchedulerSlot {
  process!: ServiceProcess;
  port = 0;
  alive = false;
  private readonly data = tempDir();
  private client: SchedulerClient | null = null;

  /** `host`: how others are told the address (a host name works as an IP does). */
  constructor(private readonly args: string[] = [], private readonly host = "127.0.0.1") {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get dataDir(): string {
    return this.data.path;
  }

  async start(dataDir = this.dataDir): Promise<ServiceProcess> {
    if (this.port === 0) this.port = await freePort();
    this.process = await startService("scheduler", [
      "--port", String(this.port), "--data-dir", dataDir, "--heartbeat-ms", "200", "--worker-timeout-ms", "2000",
      "--lease-ms", "2000", "--retry-backoff-ms", "50", ...this.args,
    ]);
    this.alive = true;
    return this.process;
  }

  async kill(): Promise<void> {
    this.alive = false;
    this.process.signal("SIGKILL");
    await this.process.exited;
  }

  /** Ids of the workers registered at this Scheduler, asked of it directly. */
  async workerIds(): Promise<string[]> {
    this.client ??= new SchedulerClient(this.address, credentials.createInsecure());
    const { workers } = await callUnary(this.client, this.client.listWorkers, {});
    return workers.map((w) => w.workerId).sort();
  }

  /** Submits straight to this Scheduler, so the task is in its store whatever the Gateway would pick. */
  async submit(name: string, payload: unknown): Promise<string> {
    this.client ??= new SchedulerClient(this.address, credentials.createInsecure());
    const request = { name, description: "", payload: Buffer.from(JSON.stringify(payload)), idempotencyKey: "", traceContext: {} };
    return (await callUnary(this.client, this.client.submitTask, request)).taskId;
  }

  /** Whether this Scheduler's own store has the task. */
  async hasTask(taskId: string): Promise<boolean> {
    this.client ??= new SchedulerClient(this.address, credentials.createInsecure());
    try {
      await callUnary(this.client, this.client.getTask, { taskId });
      return true;
    } catch (error) {
      if (OrchestratorError.from(error).code === Code.NotFound) return false;
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.client?.close();
    await this.process?.stop("SIGKILL");
    this.data.remove();
  }
}

const registeredAt = (record: LogRecord): string => String(record.scheduler);

describe("a worker given two Schedulers", () => {
  const a = new SchedulerSlot();
  const b = new SchedulerSlot();
  const started: ServiceProcess[] = [];

  beforeAll(async () => {
    await Promise.all([a.start(), b.start()]);
  });

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop("SIGKILL")));
    await Promise.all([a.stop(), b.stop()]);
  });

  it("registers at one and, when that one is killed, at the other within 2 s", async () => {
    const worker = await startService("worker", ["--port", String(await freePort()), "--scheduler", `${a.address},${b.address}`, "--handlers", fixtureHandlers]);
    started.push(worker);
    const first = await worker.waitForMessage("Worker registered with the scheduler");
    const workerId = String(first.worker_id);
    const [home, other] = registeredAt(first) === a.address ? [a, b] : [b, a];
    expect(registeredAt(first)).toBe(home.address);
    expect(await home.workerIds()).toEqual([workerId]);
    expect(await other.workerIds()).toEqual([]);

    await home.kill();
    const killedAt = performance.now();
    const moved = await worker.waitForLog((r) => r.msg === "Worker registered with the scheduler" && registeredAt(r) === other.address, 5000);
    expect(performance.now() - killedAt).toBeLessThan(2000);
    expect(moved.worker_id).toBe(workerId);
    expect(await other.workerIds()).toEqual([workerId]);
    const lost = worker.logs.find((r) => r.msg === "Lost the scheduler stream; reconnecting");
    expect(lost).toMatchObject({ scheduler: home.address, next_scheduler: other.address });
    await home.start();
  });

  it("spreads workers over the list: each starts at a random address", async () => {
    // 16 workers all landing on one of two Schedulers by chance: 2 in 65,536.
    const logger = createLogger({ level: "error" });
    const workers = Array.from({ length: 16 }, (_, i) => new Worker({ schedulerAddress: [a.address, b.address], workerId: `spread-${i}`, handlers: { noop: () => null } }, logger));
    try {
      await Promise.all(workers.map((worker) => new Promise((resolve) => {
        worker.once("connected", resolve);
        worker.start();
      })));
      const atA = (await a.workerIds()).filter((id) => id.startsWith("spread-"));
      const atB = (await b.workerIds()).filter((id) => id.startsWith("spread-"));
      expect(atA.length + atB.length).toBe(16);
      expect(atA.length).toBeGreaterThan(0);
      expect(atB.length).toBeGreaterThan(0);
      expect(new Set(workers.map((w) => w.schedulerAddress))).toEqual(new Set([a.address, b.address]));
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
  });
});

describe("a running attempt whose worker moves to the next Scheduler address", () => {
  // The store moves from the killed Scheduler to one started on the second address (one owner at
  // a time), as a Scheduler on another machine of a shared store would take the worker over.
  const first = new SchedulerSlot(["--lease-ms", "10000"]);
  const second = new SchedulerSlot(["--lease-ms", "10000"]);
  const services: ServiceProcess[] = [];
  let client: OrchestratorClient;

  beforeAll(async () => {
    await first.start();
    second.port = await freePort();
    const list = `${first.address},${second.address}`;
    const gatewayPort = await freePort();
    services.push(await startService("gateway", ["--port", String(gatewayPort), "--scheduler", list]));
    services.push(await startService("worker", ["--port", String(await freePort()), "--scheduler", list, "--handlers", fixtureHandlers]));
    await services[1]?.waitForLog((r) => r.msg === "Worker registered with the scheduler" && registeredAt(r) === first.address);
    client = new OrchestratorClient({ address: `127.0.0.1:${gatewayPort}` });
  });

  afterAll(async () => {
    client.close();
    await Promise.all(services.map((service) => service.stop("SIGKILL")));
    await Promise.all([first.stop(), second.stop()]);
  });

  it("is adopted by the Scheduler at the other address and runs once", async () => {
    const worker = services[1] as ServiceProcess;
    // Long enough to be still running when the worker has found the Scheduler started below.
    const { taskId } = await client.submit({ name: "sleepy", payload: { ms: 8000 }, maxRetries: 2 });
    for await (const update of client.subscribe(taskId)) {
      if (update.state === "running") break;
    }
    await first.kill();
    const moved = worker.waitForLog((r) => r.msg === "Worker registered with the scheduler" && registeredAt(r) === second.address, 15_000);
    const taker = await second.start(first.dataDir);
    await moved;
    const adopted = await taker.waitForMessage("Adopted a running attempt after reconnect");
    expect(adopted.task_id).toBe(taskId);
    const terminal = await client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect(terminal.attempt).toBe(1);
  });
});

describe("a Gateway given two Schedulers", () => {
  const a = new SchedulerSlot([], "localhost");
  const b = new SchedulerSlot();
  const services: ServiceProcess[] = [];
  let gateway: ServiceProcess;
  let client: OrchestratorClient;

  /** The Scheduler a stream of `kind` last opened on (the Gateway logs it), and the other one. */
  const streamAt = (kind: string): [SchedulerSlot, SchedulerSlot] => {
    const address = gateway.logs.filter((r) => r.stream === kind).at(-1)?.scheduler;
    expect([a.address, b.address]).toContain(address);
    return address === a.address ? [a, b] : [b, a];
  };
  const count = (msg: string): number => gateway.logs.filter((r) => r.msg === msg).length;

  beforeAll(async () => {
    await Promise.all([a.start(), b.start()]);
    const gatewayPort = await freePort();
    // A's address is a host name: a list takes names as a single address does.
    gateway = await startService("gateway", ["--port", String(gatewayPort), "--scheduler", `${a.address},${b.address}`]);
    services.push(gateway);
    // One worker on each Scheduler, so a task runs whichever Scheduler takes it.
    for (const slot of [a, b]) {
      const worker = await startService("worker", ["--port", String(await freePort()), "--scheduler", slot.address, "--handlers", fixtureHandlers]);
      await worker.waitForMessage("Worker registered with the scheduler");
      services.push(worker);
    }
    client = new OrchestratorClient({ address: `127.0.0.1:${gatewayPort}` });
  });

  afterAll(async () => {
    client.close();
    await Promise.all(services.map((service) => service.stop("SIGKILL")));
    await Promise.all([a.stop(), b.stop()]);
  });

  afterEach(async () => {
    // Each test starts with both Schedulers up and the Gateway connected to both again.
    for (const slot of [a, b].filter((s) => !s.alive)) {
      const connected = `Connected to the scheduler at ${slot.address}`;
      const before = count(connected);
      await slot.start();
      await gateway.waitForLog((r) => r.msg === connected && count(connected) > before, 10_000);
    }
  });

  it("spreads calls over both, and keeps forwarding and submitting when one is killed", async () => {
    // Unary calls take turns: ListWorkers answers with A's worker, then B's.
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) for (const worker of await client.workers()) seen.add(worker.workerId);
    expect(seen).toEqual(new Set([...(await a.workerIds()), ...(await b.workerIds())]));
    expect(seen.size).toBe(2);

    // Submits travel on one stream, to one Scheduler: the one the task is stored at.
    const before = await client.submit({ name: "echo", payload: "before" });
    const [victim, survivor] = streamAt("submit");
    expect(await victim.hasTask(before.taskId)).toBe(true);
    expect(await survivor.hasTask(before.taskId)).toBe(false);

    await victim.kill();
    // Right after the kill, whether or not the Gateway has seen the connection go, reads answer.
    for (let i = 0; i < 4; i++) expect((await client.workers()).map((w) => w.workerId)).toEqual(await survivor.workerIds());
    await gateway.waitForLog((r) => r.msg === `Lost the connection to the scheduler at ${victim.address}; calls go to the other schedulers`);

    const submitted = await Promise.all(Array.from({ length: 10 }, (_, i) => client.submit({ name: "echo", payload: `after-${i}` })));
    const terminals = await Promise.all(submitted.map(({ taskId }) => client.waitForResult(taskId)));
    expect(terminals.map((t) => t.state)).toEqual(Array(10).fill("succeeded"));
    for (const { taskId } of submitted) expect(await survivor.hasTask(taskId)).toBe(true);
    expect((await client.get(submitted[0]?.taskId ?? "")).state).toBe("succeeded");
    expect(gateway.logs.filter((r) => r.stream === "submit").at(-1)).toMatchObject({
      msg: `The submit stream moves to the scheduler at ${survivor.address}`, scheduler: survivor.address, previous_scheduler: victim.address,
    });
  });

  it("moves its Watch stream to the live Scheduler when its Scheduler is killed under a subscription", async () => {
    // Subscribing to an unknown task opens the Gateway's Watch stream; the log says where.
    await expect(client.waitForResult(randomUUID())).rejects.toMatchObject({ code: Code.NotFound });
    const [victim, survivor] = streamAt("watch");
    // A task on the victim, followed through the Gateway while the victim dies.
    const onVictim = { taskId: await victim.submit("sleepy", { ms: 60_000 }) };
    let running: () => void = () => undefined;
    const isRunning = new Promise<void>((resolve) => (running = resolve));
    const followed = client.waitForResult(onVictim.taskId, { onUpdate: (u) => u.state === "running" && running() }).catch((error: unknown) => error);
    await isRunning;

    await victim.kill();
    // The broken stream is opened again, at once, on the live Scheduler, and the subscription sent there.
    await gateway.waitForLog((r) => r.msg === `The watch stream moves to the scheduler at ${survivor.address}`);
    // The survivor's own store never had that task (each Scheduler has its own store here; on a
    // shared store the subscription resumes there after its last update).
    expect(await followed).toMatchObject({ code: Code.NotFound });

    const onSurvivor = { taskId: await survivor.submit("sleepy", { ms: 300 }) };
    const states: string[] = [];
    const terminal = await client.waitForResult(onSurvivor.taskId, { onUpdate: (u) => states.push(u.state) });
    expect(terminal.state).toBe("succeeded");
    expect(states).toEqual(["queued", "running", "succeeded"]);
  });
});

describe("--scheduler with a list", () => {
  it("says which entry is wrong and how to fix it", async () => {
    const empty = await runCli(["gateway", "--scheduler", "127.0.0.1:50052,,127.0.0.1:50062"]);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toContain("has an empty entry (number 2 of 3): write host:port there or remove the extra comma");
    const port = await runCli(["worker", "--scheduler", "127.0.0.1:50052,127.0.0.1:70000"], { ORCHESTRATOR_NO_EXAMPLES: "" });
    expect(port.code).not.toBe(0);
    expect(port.stderr).toContain('entry "127.0.0.1:70000" has port 70000: a port is 1-65535');
    const fromEnv = await runCli(["gateway"], { ORCHESTRATOR_SCHEDULER_ADDRESS: "127.0.0.1:50052;127.0.0.1:50062" });
    expect(fromEnv.code).not.toBe(0);
    expect(fromEnv.stderr).toContain("ORCHESTRATOR_SCHEDULER_ADDRESS");
    expect(fromEnv.stderr).toContain("several Schedulers are separated by commas");
  });
});
