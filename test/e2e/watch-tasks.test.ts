// WatchTasks end to end: a consumer of every task's events that is killed and resumed by its
// cursor misses nothing and sees nothing twice, through another Gateway (on PostgreSQL, on another
// Scheduler, with tasks recorded by both); and the SDK resumes by itself when its Scheduler restarts.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { cleanEnv } from "../helpers/cli.js";
import { cliPath } from "../helpers/processes.js";
import type { OrchestratorClient } from "../../packages/client/src/client.js";
import type { TaskEvent, TaskEventStream } from "../../packages/client/src/task-events.js";
import { isTerminal } from "../../packages/client/src/protocol/states.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { readAllTasks, storeBackends } from "../helpers/stores.js";
import { createTestStore } from "../helpers/stores.js";
import { ScaleOutRig, until } from "../helpers/scale-out.js";

const key = (event: { taskId: string; sequence: number }): string => `${event.taskId}#${event.sequence}`;

/** Submits `count` tasks, alternating between the clients; returns their ids. */
async function submitWave(clients: readonly OrchestratorClient[], count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const client = clients[i % clients.length] as OrchestratorClient;
    return (await client.submit({ name: "journaled", payload: { ms: 40, ticks: 2 } })).taskId;
  }));
}

/** Reads the stream until `done` holds (or it fails, e.g. its signal's timeout); returns what it read. */
async function readUntil(stream: TaskEventStream, into: TaskEvent[], done: () => boolean): Promise<void> {
  for await (const event of stream) {
    into.push(event);
    if (done()) return;
  }
}

/** Every event of the tasks, as the store holds them, once all have ended. */
async function storedEvents(rig: ScaleOutRig, client: OrchestratorClient, taskIds: readonly string[]): Promise<string[]> {
  await until(async () => (await Promise.all(taskIds.map((id) => client.get(id)))).every((task) => isTerminal(task.state)), 30_000, "every task to end");
  const contents = await readAllTasks(rig.store);
  return taskIds.flatMap((id) => (contents.events.get(id) ?? []).map(key)).sort();
}

/** `orchestrator events --json ...` as a process of its own; its events as they are printed, and a way to kill it. */
function eventsCli(gateway: string, args: string[]): { lines: Array<Record<string, unknown>>; watching: Promise<void>; kill(): Promise<void> } {
  const child = spawn(process.execPath, [cliPath, "events", "--gateway", gateway, "--json", ...args], { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  let stderr = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const watching = new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      if (/^watching events/m.test(stderr)) resolve();
    });
    void exited.then(() => reject(new Error(`orchestrator events exited before it was watching:\n${stderr}`)));
  });
  watching.catch(() => undefined);
  return {
    lines, watching,
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

describe.each(storeBackends)("WatchTasks (%s store)", (backend) => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it("a consumer killed and resumed by cursor misses nothing and sees nothing twice", async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    // On PostgreSQL two Schedulers record the tasks, and the consumer resumes on the other one.
    const a = await rig.scheduler();
    const b = backend === "postgres" ? await rig.scheduler() : a;
    const gatewayA = await rig.gateway([a.address]);
    const gatewayB = await rig.gateway([b.address]);
    await rig.worker([a.address]);
    if (b !== a) await rig.worker([b.address]);
    const clients = [gatewayA.client, gatewayB.client];

    const first = gatewayA.client.events({ names: ["journaled"], signal: AbortSignal.timeout(30_000) });
    await first.ready;
    const beforeKill: TaskEvent[] = [];
    const firstWave = await submitWave(clients, 20);
    // Killed in the middle of the stream: tasks are still running when it stops reading.
    await readUntil(first, beforeKill, () => beforeKill.length >= 40);
    first.close();
    const cursor = beforeKill.at(-1)?.cursor;
    expect(cursor).toBeTruthy();

    // While nobody watches: more tasks, and the first wave's ends.
    const secondWave = await submitWave(clients, 20);
    const taskIds = [...firstWave, ...secondWave];
    const expected = await storedEvents(rig, gatewayA.client, taskIds);

    const afterResume: TaskEvent[] = [];
    const second = gatewayB.client.events({ names: ["journaled"], after: cursor, signal: AbortSignal.timeout(30_000) });
    await readUntil(second, afterResume, () => beforeKill.length + afterResume.length >= expected.length).catch((error: unknown) => {
      throw new Error(`the resumed stream stopped after ${afterResume.length} events (${beforeKill.length} before the kill, ${expected.length} stored)`, { cause: error });
    });
    second.close();

    const seen = [...beforeKill, ...afterResume].map(key);
    const twice = seen.filter((item, index) => seen.indexOf(item) !== index);
    expect(twice, "events seen twice").toEqual([]);
    expect([...seen].sort()).toEqual(expected);
    // Each task's events with its name and a cursor each; in its own order on SQLite (on PostgreSQL
    // two events of one task committed in one transaction may come in their rows' order instead).
    for (const id of taskIds) {
      const own = [...beforeKill, ...afterResume].filter((event) => event.taskId === id);
      const sequences = own.map((event) => event.sequence);
      expect(backend === "sqlite" ? sequences : [...sequences].sort((x, y) => x - y)).toEqual(own.map((_, index) => index + 1));
      expect(own.every((event) => event.name === "journaled" && event.cursor !== "")).toBe(true);
    }
  }, 60_000);

  it("the SDK resumes by itself after its Scheduler restarts, missing nothing and repeating nothing", async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    const a = await rig.scheduler();
    const port = a.address.split(":")[1] as string;
    const { client } = await rig.gateway([a.address]);
    await rig.worker([a.address]);

    const events: TaskEvent[] = [];
    const stream = client.events({ signal: AbortSignal.timeout(40_000) });
    await stream.ready;
    const firstWave = await submitWave([client], 5);
    const reading = readUntil(stream, events, () => false);
    await until(() => events.length >= 5, 10_000, "the first events");

    await a.process.stop("SIGKILL");
    await rig.scheduler(["--port", port]);
    await until.retrying(() => client.get(firstWave[0] as string), 20_000, "the gateway to reach the restarted scheduler");
    const secondWave = await submitWave([client], 5);
    const expected = await storedEvents(rig, client, [...firstWave, ...secondWave]);
    await until(() => events.length >= expected.length, 20_000, `${expected.length} events (${events.length} so far)`);
    stream.close();
    await reading;

    const seen = events.map(key);
    expect(seen.filter((item, index) => seen.indexOf(item) !== index), "events seen twice").toEqual([]);
    expect([...seen].sort()).toEqual(expected);
  }, 60_000);

  it("`orchestrator events` killed with SIGKILL and started again with --after misses nothing and prints nothing twice", async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    const a = await rig.scheduler();
    const { client, process: gateway } = await rig.gateway([a.address]);
    await rig.worker([a.address]);
    const address = String(gateway.args[gateway.args.indexOf("--port") + 1]);

    const first = eventsCli(`127.0.0.1:${address}`, ["--name", "journaled"]);
    await first.watching;
    const firstWave = await submitWave([client], 10);
    await until(() => first.lines.length >= 15, 10_000, "15 events printed");
    await first.kill();
    const printed = [...first.lines];
    const secondWave = await submitWave([client], 10);
    const expected = await storedEvents(rig, client, [...firstWave, ...secondWave]);

    const second = eventsCli(`127.0.0.1:${address}`, ["--name", "journaled", "--after", String(printed.at(-1)?.cursor)]);
    try {
      await until(() => printed.length + second.lines.length >= expected.length, 20_000, `${expected.length} events in all`);
    } finally {
      await second.kill();
    }
    const seen = [...printed, ...second.lines].map((line) => key({ taskId: String(line.task_id), sequence: Number(line.sequence) }));
    expect(seen.filter((item, index) => seen.indexOf(item) !== index), "events printed twice").toEqual([]);
    expect([...seen].sort()).toEqual(expected);
  }, 60_000);

  it("waits for a batch of tasks with one stream, as the README shows", async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    const a = await rig.scheduler();
    const { client } = await rig.gateway([a.address]);
    await rig.worker([a.address]);
    const events = client.events({ names: ["journaled"], states: ["succeeded", "failed", "cancelled"], signal: AbortSignal.timeout(20_000) });
    await events.ready;
    const ids = new Set(await submitWave([client], 25));
    const ended: TaskEvent[] = [];
    for await (const event of events) {
      ended.push(event);
      if (ids.delete(event.taskId) && ids.size === 0) break;
    }
    expect(ids.size).toBe(0);
    expect(ended.every((event) => event.state === "succeeded")).toBe(true);
    expect(ended).toHaveLength(25);
  }, 60_000);

  it("refuses a malformed cursor, or one of the other kind of store, with INVALID_ARGUMENT naming after", async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    const a = await rig.scheduler();
    const { client } = await rig.gateway([a.address]);
    const other = backend === "sqlite" ? "p:1:1" : "s:1";
    for (const after of ["garbage", other]) {
      const stream = client.events({ after });
      await expect(stream.ready, after).rejects.toMatchObject({ code: Code.InvalidArgument, message: expect.stringMatching(/\bafter\b/) as unknown });
      await expect((async () => {
        for await (const event of stream) throw new Error(`unexpected event ${event.cursor}`);
      })(), after).rejects.toMatchObject({ code: Code.InvalidArgument });
    }
  }, 60_000);
});
