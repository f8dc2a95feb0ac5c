// Several Schedulers on one PostgreSQL schema, as real processes: work submitted at one Scheduler
// runs on a worker attached to another, cancels and updates cross between them, one idempotency
// key gives one task whichever Scheduler takes it, and maintenance passes to another leader when
// the leader dies.
import { afterEach, describe, expect, it } from "vitest";
import type { OrchestratorClient } from "../../packages/client/src/client.js";
import { adminQuery, createTestStore, readAllTasks } from "../helpers/stores.js";
import { Follower, readStore, sequenceProblems, storeViolations } from "../helpers/chaos.js";
import { ScaleOutRig, until, type JournalEntry } from "../helpers/scale-out.js";

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? NaN;
}

/** Submits `count` tasks one after another through `client`; returns how long each took to start on a worker. */
async function startLatencies(rig: ScaleOutRig, client: OrchestratorClient, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const submittedAt = Date.now();
    const { taskId } = await client.submit({ name: "journaled", payload: { ms: 0 } });
    let started: JournalEntry | undefined;
    await until(() => (started = rig.entries().find((entry) => entry.kind === "start" && entry.taskId === taskId)) !== undefined, 10_000, `task ${taskId} to start`);
    latencies.push((started?.at ?? NaN) - submittedAt);
  }
  return latencies;
}

describe("several Schedulers on one PostgreSQL", () => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it("runs a task submitted at Scheduler A on the only worker, attached to B, within 50 ms (p99 of 200), and within the poll interval + 50 ms when B polls only", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const a = await rig.scheduler();
    const b = await rig.scheduler();
    const { client } = await rig.gateway([a.address]);
    await rig.worker([b.address]);
    // The first tasks meet cold code paths and connections (the very first start took 96 ms here);
    // the bound is for a running cluster.
    await startLatencies(rig, client, 20);
    const hinted = await startLatencies(rig, client, 200);
    expect(percentile(hinted, 0.99), `start latencies (ms), sorted: ${[...hinted].sort((x, y) => x - y).join(",")}`).toBeLessThanOrEqual(50);

    // B without LISTEN (as behind a pooler that cannot LISTEN): the poll alone finds the work.
    const pollOnly = await rig.scheduler(["--poll-only", "--poll-ms", "300"]);
    await rig.worker([pollOnly.address]);
    await b.process.stop("SIGKILL");
    await startLatencies(rig, client, 2);
    const polled = await startLatencies(rig, client, 20);
    // p95 of 20 (one start may meet a loaded machine, as in a full CI run); none waits two polls.
    expect(percentile(polled, 0.95), `start latencies (ms): ${polled.join(",")}`).toBeLessThanOrEqual(300 + 50);
    expect(Math.max(...polled), `start latencies (ms): ${polled.join(",")}`).toBeLessThan(2 * 300 + 50);
  });

  it("carries a cancel through A to the handler on B's worker within 1 s, and refuses the late result", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const a = await rig.scheduler();
    const b = await rig.scheduler();
    const { client } = await rig.gateway([a.address]);
    const worker = await rig.worker([b.address]);
    const { taskId } = await client.submit({ name: "journaled", payload: { ms: 60_000 } });
    await until(() => rig.entries().some((entry) => entry.kind === "start" && entry.taskId === taskId), 5000, "the handler to start");
    const cancelledAt = Date.now();
    await client.cancel(taskId, "changed my mind");
    let aborted: JournalEntry | undefined;
    await until(() => (aborted = rig.entries().find((entry) => entry.kind === "abort" && entry.taskId === taskId)) !== undefined, 5000, "the handler to see the abort");
    expect((aborted?.at ?? Infinity) - cancelledAt).toBeLessThanOrEqual(1000);
    await b.process.waitForLog((record) => record.task_id === taskId && /no longer current/.test(String(record.msg)), 5000);
    expect((await client.get(taskId)).state).toBe("cancelled");
    expect(worker.logs.some((record) => record.task_id === taskId && record.msg === "Task succeeded")).toBe(false);
  });

  it("gives one task for one idempotency key submitted through A and B at once", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const a = await rig.scheduler();
    const b = await rig.scheduler();
    const viaA = (await rig.gateway([a.address])).client;
    const viaB = (await rig.gateway([b.address])).client;
    for (let round = 0; round < 20; round++) {
      const spec = { name: "journaled", payload: { ms: 0 }, idempotencyKey: `same-key-${round}` };
      const [first, second] = await Promise.all([viaA.submit(spec), viaB.submit(spec)]);
      expect(second.taskId, `round ${round}`).toBe(first.taskId);
    }
    const stored = await readAllTasks(rig.store);
    expect(stored.tasks.size).toBe(20);
  });

  it("shows every update of a task running on B's worker to a subscriber at A's Gateway, in order, with no gap or repeat", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const a = await rig.scheduler();
    const b = await rig.scheduler();
    const { client } = await rig.gateway([a.address]);
    await rig.worker([b.address]);
    const { taskId } = await client.submit({ name: "journaled", payload: { ms: 2000, ticks: 50 } });
    const follower = new Follower(client, taskId);
    const last = await follower.done;
    expect(last?.state).toBe("succeeded");
    const sequences = follower.updates.map((update) => update.sequence);
    expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => i + 1));
    // queued, running, 50 progress updates, succeeded.
    expect(sequences.length).toBe(53);
  });

  it("passes maintenance to another Scheduler within the leader TTL + one renewal when the leader dies, and expires each abandoned attempt once", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    const first = await rig.scheduler();
    await first.process.waitForMessage(/leads maintenance/);
    const second = await rig.scheduler();
    const { client } = await rig.gateway([second.address]);
    const worker = await rig.worker([second.address], ["--slots", "4"]);
    const tasks = await Promise.all(Array.from({ length: 4 }, () => client.submit({ name: "journaled", payload: { ms: 60_000 }, maxRetries: 3 })));
    await until(() => rig.entries().filter((entry) => entry.kind === "start").length === 4, 5000, "four handlers to start");
    // The worker dies with its four attempts, and so does the maintenance leader.
    await worker.stop("SIGKILL");
    const killedAt = Date.now();
    await first.process.stop("SIGKILL");
    const took = await second.process.waitForMessage(/leads maintenance/, 20_000);
    expect(Date.parse(String(took.time)) - killedAt).toBeLessThanOrEqual(10_000 + 200 + 1000);
    for (const { taskId } of tasks) {
      await until(async () => (await client.get(taskId)).state !== "running", 15_000, `task ${taskId} to be expired`);
    }
    const stored = await readAllTasks(rig.store);
    for (const { taskId } of tasks) {
      const expiries = (stored.events.get(taskId) ?? []).filter((event) => event.state === "retrying" && event.attempt === 1);
      expect(expiries, `task ${taskId}`).toHaveLength(1);
    }
  });

  it("3 Schedulers, 2 Gateways, 4 workers: 3,000 tasks complete exactly once through a Scheduler SIGKILL and a cut LISTEN connection, and subscribers at both Gateways see every update", async () => {
    rig = new ScaleOutRig(await createTestStore("postgres"));
    // The shipped lease and worker timeout (5 s), not the rig's 2 s: a worker whose Scheduler dies
    // must reach another and be adopted within the lease, and the whole suite shares two cores.
    const shipped = ["--lease-ms", "5000", "--worker-timeout-ms", "5000"];
    const schedulers = [await rig.scheduler(shipped), await rig.scheduler(shipped), await rig.scheduler(shipped)];
    const [s0, s1, s2] = schedulers.map((scheduler) => scheduler.address) as [string, string, string];
    const gateways = [(await rig.gateway([s0, s1, s2])).client, (await rig.gateway([s2, s1, s0])).client];
    for (const list of [[s0, s1], [s1, s2], [s2, s0], [s0, s2]]) await rig.worker(list, ["--slots", "16"]);

    const total = 3000;
    const sampled = new Set(Array.from({ length: 10 }, (_, i) => 900 + i * 60));
    const followers: Follower[] = [];
    const submitted: string[] = [];
    const chunk = 100;
    for (let start = 0; start < total; start += chunk) {
      const client = gateways[(start / chunk) % 2] as OrchestratorClient;
      const specs = Array.from({ length: chunk }, (_, i) => {
        const index = start + i;
        const payload = sampled.has(index) ? { ms: 1500, ticks: 6 } : { ms: index % 7 };
        return { name: "journaled", payload, maxRetries: 5, idempotencyKey: `cluster-${index}` };
      });
      // Repeated with the same keys while a Gateway fails over: the keys make the repeat harmless.
      const accepted = await until.retrying(() => client.submitMany(specs), 30_000, `chunk at ${start}`);
      specs.forEach((_, i) => {
        const taskId = accepted[i]?.taskId ?? "";
        submitted.push(taskId);
        if (sampled.has(start + i)) followers.push(new Follower(gateways[0] as OrchestratorClient, taskId), new Follower(gateways[1] as OrchestratorClient, taskId));
      });
      if (start === 1000) {
        await schedulers[0]?.process.stop("SIGKILL");
        const cut = await adminQuery("SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE application_name = $1", [`orchestrator ${schedulers[1]?.id} listener`]);
        expect(cut).toHaveLength(1);
      }
    }
    expect(new Set(submitted).size).toBe(total);
    await until(() => new Set(rig.entries().filter((entry) => entry.kind === "done").map((entry) => entry.taskId)).size === total, 180_000, "every handler to finish");
    // The workers report results after their handlers return: wait until the store has them all.
    const reader = gateways[1] as OrchestratorClient;
    await until(async () => {
      for (const state of ["queued", "running", "retrying"] as const) if ((await reader.list({ state, pageSize: 1 })).tasks.length > 0) return false;
      return true;
    }, 30_000, "every task to be terminal");

    const done = new Map<string, number>();
    for (const entry of rig.entries()) if (entry.kind === "done") done.set(entry.taskId, (done.get(entry.taskId) ?? 0) + 1);
    const twice = [...done.entries()].filter(([, count]) => count !== 1).map(([taskId]) => taskId);
    expect(twice, JSON.stringify(rig.entries().filter((entry) => twice.includes(entry.taskId)))).toEqual([]);
    const snapshot = await readStore(rig.store);
    expect(snapshot.tasks.size).toBe(total);
    expect(storeViolations(snapshot)).toEqual([]);
    expect([...snapshot.tasks.values()].filter((task) => task.state !== "succeeded").map((task) => task.id)).toEqual([]);
    for (const follower of followers) {
      const last = await follower.done;
      const sequences = follower.updates.map((update) => update.sequence);
      expect(sequenceProblems(sequences), `followed task ${follower.taskId}`).toBeNull();
      expect(last?.sequence).toBe(snapshot.tasks.get(follower.taskId)?.last_sequence);
    }
  }, 300_000);
});
