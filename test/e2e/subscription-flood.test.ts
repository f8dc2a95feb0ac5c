// A client holding thousands of SubscribeProgress streams, each connection within its limit, must
// not starve other clients' calls while it opens them, while it holds them, or after it leaves.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayClient } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Cluster } from "../helpers/processes.js";
import { callUnary, isServiceError } from "../helpers/grpc.js";
import { delay } from "../helpers/chaos.js";

const floodScript = fileURLToPath(new URL("../fixtures/subscription-flood.mjs", import.meta.url));
const connections = 10;
const subscriptionsPerConnection = 1000;

interface Sample {
  method: string;
  startedAt: number;
  ms: number;
  /** Status code and details of a failed call. */
  failure?: { code: number | string; details: string };
}

interface FloodReport {
  opened: number;
  failed: Record<string, number>;
  total: number;
  settled: boolean;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Opens a subscription and resolves at its first update (the replayed "queued"), then cancels it. */
function firstUpdate(client: GatewayClient, taskId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.subscribeProgress({ taskId, afterSequence: 0 }, { deadline: Date.now() + 5000 });
    stream.once("data", () => {
      resolve();
      stream.cancel();
    });
    stream.on("error", reject);
  });
}

/**
 * Another application's client: one call at a time, round robin over GetTask, ListTasks,
 * CancelTask, ListWorkers and a SubscribeProgress (timed to its first update).
 */
class Bystander {
  readonly samples: Sample[] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly client: GatewayClient, private readonly taskIds: readonly string[]) {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async run(): Promise<void> {
    const c = this.client;
    const calls: Array<[string, (i: number) => Promise<unknown>]> = [
      ["GetTask", (i) => callUnary(c, c.getTask, { taskId: this.taskIds[i % this.taskIds.length] ?? "" }, 5000)],
      ["ListTasks", () => callUnary(c, c.listTasks, { state: 0, name: "bystander-unserved", pageSize: 20, pageToken: "", filter: undefined }, 5000)],
      ["CancelTask", (i) => callUnary(c, c.cancelTask, { taskId: this.taskIds[i % this.taskIds.length] ?? "", reason: "bystander" }, 5000)],
      ["ListWorkers", () => callUnary(c, c.listWorkers, {}, 5000)],
      ["SubscribeProgress", (i) => firstUpdate(c, this.taskIds[i % this.taskIds.length] ?? "")],
    ];
    for (let i = 0; !this.stopped; i++) {
      const [method, call] = calls[i % calls.length] ?? calls[0]!;
      const startedAt = performance.now();
      let failure: Sample["failure"];
      try {
        await call(i);
      } catch (error) {
        failure = isServiceError(error) ? { code: error.code, details: error.details } : { code: "thrown", details: String(error) };
      }
      this.samples.push({ method, startedAt, ms: performance.now() - startedAt, failure });
      await delay(5);
    }
  }
}

describe("a subscription flood", () => {
  const cluster = new Cluster({ workers: 1 });

  beforeAll(async () => {
    await cluster.start();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it(`${connections} connections × ${subscriptionsPerConnection} SubscribeProgress streams: another client's calls never fail, keep p99 under 100 ms while they are held, and are normal within 2 s after the flood ends`, async () => {
    // Tasks that stay open: queued under names no worker serves.
    const watched = await cluster.client.submitMany(Array.from({ length: subscriptionsPerConnection }, () => ({ name: "nobody-serves-this" })));
    const own = await cluster.client.submitMany(Array.from({ length: 200 }, () => ({ name: "bystander-unserved" })));
    const raw = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    await callUnary(raw, raw.listWorkers, {});
    const bystander = new Bystander(raw, own.map((task) => task.taskId));
    await delay(300);

    const floodStartedAt = performance.now();
    const flood = spawn(process.execPath, [floodScript, cluster.gatewayAddress, String(connections)], { stdio: ["pipe", "pipe", "inherit"] });
    flood.stdin.end(watched.map((task) => task.taskId).join("\n"));
    let report: FloodReport | undefined;
    const settled = new Promise<void>((resolve) => {
      createInterface({ input: flood.stdout }).on("line", (line) => {
        report = JSON.parse(line) as FloodReport;
        if (report.settled) resolve();
      });
    });
    // On a flood the Gateway cannot carry, the streams never all open: stop waiting after 30 s.
    await Promise.race([settled, delay(30_000)]);
    const floodOpenAt = performance.now();
    // The flood holds its streams for a while, then leaves (its connections close).
    await delay(5000);
    const floodLeavingAt = performance.now();
    const exited = new Promise((resolve) => flood.once("exit", resolve));
    flood.kill("SIGKILL");
    await exited;
    const floodEndedAt = performance.now();
    await delay(3000);
    await bystander.stop();
    raw.close();

    // Failed calls by method and code, with the first one's details.
    const failures = new Map<string, { calls: number; first: string }>();
    for (const { method, failure } of bystander.samples) {
      if (!failure) continue;
      const key = `${method} ${failure.code}`;
      failures.set(key, { calls: (failures.get(key)?.calls ?? 0) + 1, first: failures.get(key)?.first ?? failure.details });
    }
    expect(Object.fromEntries(failures)).toEqual({});
    // Opening: while the flood's 10,000 streams arrive. Held: while all of them are open (calls
    // that ended before the flood left). After: from 2 s after the flood's connections closed.
    const opening = bystander.samples.filter((s) => s.startedAt >= floodStartedAt && s.startedAt < floodOpenAt);
    const held = bystander.samples.filter((s) => s.startedAt >= floodOpenAt && s.startedAt + s.ms < floodLeavingAt);
    const after = bystander.samples.filter((s) => s.startedAt >= floodEndedAt + 2000);
    const summary = (samples: readonly Sample[]): Record<string, number> => ({
      calls: samples.length, p50: Math.round(percentile(samples.map((s) => s.ms), 50)), p99: Math.round(percentile(samples.map((s) => s.ms), 99)),
      max: Math.round(Math.max(...samples.map((s) => s.ms))),
    });
    const slow = bystander.samples.filter((s) => s.ms >= 100).map((s) => `${s.method} ${Math.round(s.ms)} ms at +${Math.round(s.startedAt - floodStartedAt)} ms`);
    console.log("bystander while the flood opens", summary(opening), "held", summary(held), "after", summary(after), "flood", report,
      "all open at", `+${Math.round(floodOpenAt - floodStartedAt)} ms`, "ended at", `+${Math.round(floodEndedAt - floodStartedAt)} ms`, "slow calls", slow);
    expect(report).toMatchObject({ opened: connections * subscriptionsPerConnection, failed: {} });
    // While 10,000 streams arrive at once, Node's HTTP/2 and grpc-js spend about a second of the
    // Gateway's CPU accepting them, in a few long turns: a call caught behind one waits for it
    // (up to ~1.5 s on a loaded 2-core machine), but most are served at once, and none fails.
    expect(percentile(opening.map((s) => s.ms), 50)).toBeLessThan(100);
    expect(held.length).toBeGreaterThan(100);
    expect(percentile(held.map((s) => s.ms), 99)).toBeLessThan(100);
    expect(after.length).toBeGreaterThan(50);
    expect(percentile(after.map((s) => s.ms), 99)).toBeLessThan(100);
    expect(cluster.gateway.logs.filter((r) => r.level === "error")).toEqual([]);
  }, 90_000);
});
