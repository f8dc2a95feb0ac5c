// The concurrency bound through crashes, as real processes on each store: a few hundred tasks over
// ten keys (a per-name bound of 2; one key with its own bound of 1) run on four workers while one
// worker and one Scheduler are SIGKILLed mid-run. PostgreSQL: two Schedulers on one schema, the
// killed one's workers fail over to the other. SQLite (one Scheduler owns the file): the Scheduler
// is killed and restarted on the same data dir, its workers reconnect. The handlers' journal
// (start/end lines with timestamps) proves that no key ever had more attempts running than its
// bound; an attempt of the killed worker has a start and no end, and counts until the store
// recorded its end (the lease expiry), since that is how long the store counts it.
import { afterEach, describe, expect, it } from "vitest";
import type { OrchestratorClient, TaskSpec } from "../../packages/client/src/client.js";
import { readStore, storeViolations } from "../helpers/chaos.js";
import { attemptSpans, describePeak, peaks } from "../helpers/key-journal.js";
import { startService, type ServiceProcess } from "../helpers/processes.js";
import { ScaleOutRig, until } from "../helpers/scale-out.js";
import { createTestStore, readAllTasks, storeBackends } from "../helpers/stores.js";

const total = 400;
const keyCount = 10;
const nameBound = 2;
/** This key's tasks carry concurrency_limit 1, which overrides the name's bound for it. */
const ownBoundKey = "key-9";
const ownBound = 1;
const maxRetries = 5;
const workerCount = 4;
const workerSlots = 8;
/** Every 23rd task (spread over the keys) runs this long, so some run through the Scheduler's death and are adopted. */
const longMs = 3000;

type Scheduler = Awaited<ReturnType<ScaleOutRig["scheduler"]>>;

const boundOf = (key: string): number => (key === ownBoundKey ? ownBound : nameBound);

/** The Scheduler a worker is attached to now: the address of its last registration. */
function attachedTo(worker: ServiceProcess): string | undefined {
  const registrations = worker.logs.filter((record) => record.msg === "Worker registered with the scheduler");
  return registrations.at(-1)?.scheduler as string | undefined;
}

/** Whether every task is terminal, asked through the Gateway (retried while it fails over). */
async function allTerminal(client: OrchestratorClient): Promise<boolean> {
  return until.retrying(async () => {
    for (const state of ["queued", "running", "retrying", "scheduled"] as const) if ((await client.list({ state, pageSize: 1 })).tasks.length > 0) return false;
    return true;
  }, 20_000, "listing the unfinished tasks");
}

describe.each(storeBackends)("the concurrency bound through a worker SIGKILL and a Scheduler SIGKILL (%s store)", (backend) => {
  let rig: ScaleOutRig;

  afterEach(async () => {
    await rig?.stop();
  });

  it("never runs more attempts of a key at once than its bound, by the handlers' journal; every task succeeds within max_retries + 1 attempts", async () => {
    rig = new ScaleOutRig(await createTestStore(backend));
    // The shipped lease and worker timeout (5 s), not the rig's 2 s: a worker whose Scheduler dies
    // must be adopted elsewhere within its lease, else its attempts would be retried while their
    // handlers still run (at-least-once), which is no test of the bound.
    const shipped = ["--lease-ms", "5000", "--worker-timeout-ms", "5000"];
    const schedulers = backend === "postgres" ? [await rig.scheduler(shipped), await rig.scheduler(shipped)] : [await rig.scheduler(shipped)];
    const addresses = schedulers.map((scheduler) => scheduler.address);
    const { client } = await rig.gateway(addresses);
    await client.setConcurrencyLimit("journaled", nameBound);
    const workers: ServiceProcess[] = [];
    for (let i = 0; i < workerCount; i++) {
      // Each worker has every Scheduler, listed from a different one (they also start at a random place).
      workers.push(await rig.worker([...addresses.slice(i % addresses.length), ...addresses.slice(0, i % addresses.length)], ["--slots", String(workerSlots)]));
    }

    // 4 × 8 slots against 9 × 2 + 1 allowed at once: the bound, not the workers, holds the keys back.
    const keyOf = new Map<string, string>();
    const specs: TaskSpec[] = Array.from({ length: total }, (_, i) => {
      const key = `key-${i % keyCount}`;
      return {
        name: "journaled", payload: { ms: i % 23 === 0 ? longMs : 50 + ((i * 37) % 151) }, maxRetries, concurrencyKey: key,
        ...(key === ownBoundKey ? { concurrencyLimit: ownBound } : {}),
      };
    });
    for (let start = 0; start < total; start += 100) {
      const chunk = specs.slice(start, start + 100);
      const accepted = await client.submitMany(chunk);
      accepted.forEach((submitted, i) => keyOf.set(submitted.taskId, String(chunk[i]?.concurrencyKey)));
    }
    expect(keyOf.size).toBe(total);
    // keyOf holds the tasks in submit order.
    const longTasks = new Set([...keyOf.keys()].filter((_, i) => i % 23 === 0));
    const doneTasks = (): number => new Set(rig.entries().filter((entry) => entry.kind === "done").map((entry) => entry.taskId)).size;

    // ---- a worker dies with attempts running: they keep counting until their lease runs out --
    const victim = workers[1] as ServiceProcess;
    const openOnVictim = (): number => {
      const mine = rig.entries().filter((entry) => entry.pid === victim.pid);
      const ended = new Set(mine.filter((entry) => entry.kind !== "start").map((entry) => `${entry.taskId}/${entry.attempt}`));
      return mine.filter((entry) => entry.kind === "start" && !ended.has(`${entry.taskId}/${entry.attempt}`)).length;
    };
    await until(() => doneTasks() >= total * 0.2 && openOnVictim() > 0, 30_000, "a fifth of the tasks done and the victim worker running some");
    victim.signal("SIGKILL");
    await victim.exited;
    const survivors = workers.filter((worker) => worker !== victim);
    /** PostgreSQL: the Scheduler more live workers are attached to dies, the other adopts; SQLite: the one Scheduler dies and comes back. */
    const chooseDying = (): [Scheduler, Scheduler | undefined] => {
      const [first, second] = schedulers as [Scheduler, Scheduler | undefined];
      if (!second) return [first, undefined];
      const attached = (address: string): number => survivors.filter((worker) => attachedTo(worker) === address).length;
      return attached(first.address) >= attached(second.address) ? [first, second] : [second, first];
    };

    // ---- a Scheduler dies while its workers run long attempts: they reconnect and are adopted --
    const [dying, living] = chooseDying();
    const openLongOn = (pids: ReadonlySet<number>): number => {
      const ended = new Set(rig.entries().filter((entry) => entry.kind !== "start").map((entry) => `${entry.taskId}/${entry.attempt}/${entry.pid}`));
      return rig.entries().filter((entry) => entry.kind === "start" && longTasks.has(entry.taskId) && pids.has(entry.pid) && !ended.has(`${entry.taskId}/${entry.attempt}/${entry.pid}`)).length;
    };
    const dyingsWorkers = new Set(survivors.filter((worker) => attachedTo(worker) === dying.address).map((worker) => worker.pid));
    expect(dyingsWorkers.size).toBeGreaterThan(0);
    await until(() => doneTasks() >= total * 0.4 && openLongOn(dyingsWorkers) > 0, 30_000, "two fifths of the tasks done and a long one running on the dying Scheduler's workers");
    dying.process.signal("SIGKILL");
    await dying.process.exited;
    let adopter: ServiceProcess;
    if (living) {
      adopter = living.process;
    } else {
      // SQLite: the same port, store and data dir; its workers reconnect to it.
      adopter = await startService("scheduler", dying.process.args);
      rig.processes.push(adopter);
    }

    await until(() => doneTasks() === total, 90_000, `all ${total} tasks done`);
    await until(() => allTerminal(client), 30_000, "every task to be terminal in the store");
    // Read the store once no Scheduler writes it (the SQLite file has one owner).
    for (const process of rig.processes.filter((service) => service.command === "scheduler")) await process.stop("SIGINT");
    const [snapshot, contents] = [await readStore(rig.store), await readAllTasks(rig.store)];

    // ---- every task succeeded, within max_retries + 1 attempts, its last attempt's handler done --
    expect(snapshot.tasks.size).toBe(total);
    expect(storeViolations(snapshot)).toEqual([]);
    expect([...snapshot.tasks.values()].filter((task) => task.state !== "succeeded").map((task) => task.id)).toEqual([]);
    const entries = rig.entries();
    for (const task of snapshot.tasks.values()) {
      const attempts = new Set(entries.filter((entry) => entry.taskId === task.id && entry.kind === "start").map((entry) => entry.attempt));
      expect(Math.max(...attempts), `task ${task.id}: attempts journaled ${[...attempts].join(",")}`).toBeLessThanOrEqual(maxRetries + 1);
      expect(entries.some((entry) => entry.taskId === task.id && entry.kind === "done" && entry.attempt === task.attempt), `task ${task.id}: its attempt ${task.attempt} journaled done`).toBe(true);
    }

    // ---- the faults did what they were meant to ----------------------------------------------
    const spans = attemptSpans(entries, contents.events, (taskId) => keyOf.get(taskId));
    const cutShort = spans.filter((span) => span.endFrom !== "journal");
    // The victim's unfinished attempts, and nothing else, end in the store: by their lease expiry.
    expect(cutShort.length).toBeGreaterThan(0);
    expect(cutShort.filter((span) => span.pid !== victim.pid || span.endFrom !== "store")).toEqual([]);
    for (const span of cutShort) {
      const ending = (contents.events.get(span.taskId) ?? []).find((event) => event.attempt === span.attempt && event.state === "retrying");
      expect(ending?.error, `task ${span.taskId} attempt ${span.attempt}`).toBe("the worker stopped renewing its lease");
    }
    // The killed Scheduler's workers carried their running attempts over.
    expect(adopter.logs.filter((record) => record.msg === "Adopted a running attempt after reconnect").length).toBeGreaterThan(0);

    // ---- the bound held for every key, at every moment ---------------------------------------
    const byKey = peaks(spans);
    expect([...byKey.keys()].sort()).toEqual(Array.from({ length: keyCount }, (_, i) => `key-${i}`).sort());
    const overBound = [...byKey].filter(([key, peak]) => peak.running > boundOf(key)).map(([key, peak]) => describePeak(key, peak));
    expect(overBound).toEqual([]);
    // The bound was what held them: each key reached it, and the keys ran side by side.
    expect([...byKey].filter(([key, peak]) => peak.running < boundOf(key)).map(([key, peak]) => describePeak(key, peak))).toEqual([]);
    expect(peaks(spans, () => "all").get("all")?.running).toBeGreaterThan(nameBound);
    console.log(`concurrency bound (${backend}): ${spans.length} attempts, ${cutShort.length} cut short by the worker SIGKILL, peaks ${JSON.stringify(Object.fromEntries([...byKey].map(([key, peak]) => [key, peak.running])))}`);
  }, 180_000);
});
