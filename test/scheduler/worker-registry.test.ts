import { describe, expect, it } from "vitest";
import { WorkerRegistry, WorkerSession } from "../../packages/server/src/scheduler/worker-registry.js";

const channel = { sendAssignments: () => undefined, sendCancel: () => undefined, close: () => undefined };

function busy(session: WorkerSession, attempts: number): void {
  for (let index = 0; index < attempts; index++) session.inFlight.set(`${session.workerId}-t${index}#1`, { taskId: `${session.workerId}-t${index}`, attempt: 1 });
}

function limits(registry: WorkerRegistry, maxTasks?: number): Record<string, number> {
  return Object.fromEntries(registry.claimRequests(maxTasks).map(({ request }) => [request.workerId, request.limit]));
}

describe("WorkerRegistry claim requests with claim-ahead (prefetch)", () => {
  it("asks for a worker's idle slots first, then for what it may hold beyond them", () => {
    const registry = new WorkerRegistry();
    const worker = new WorkerSession("a", ["resize"], 2, 0, channel, 3);
    registry.add(worker);
    expect(limits(registry)).toEqual({ a: 2 });
    busy(worker, 2);
    expect(limits(registry)).toEqual({ a: 3 });
    busy(worker, 4);
    expect(limits(registry)).toEqual({ a: 1 });
    worker.draining = true;
    expect(limits(registry)).toEqual({});
  });

  it("holds nothing on a busy worker while another has an idle slot; once none has, every busy worker may hold", () => {
    const registry = new WorkerRegistry();
    const busyWorker = new WorkerSession("a", ["resize"], 2, 0, channel, 2);
    const idleWorker = new WorkerSession("b", ["resize"], 2, 0, channel, 2);
    registry.add(busyWorker);
    registry.add(idleWorker);
    busy(busyWorker, 2);
    busy(idleWorker, 1);
    expect(limits(registry)).toEqual({ b: 1 });
    busy(idleWorker, 2);
    expect(limits(registry)).toEqual({ a: 2, b: 2 });
  });

  it("lets a busy worker hold while the idle slots belong to workers of other task names", () => {
    const registry = new WorkerRegistry();
    const resizer = new WorkerSession("a", ["resize"], 2, 0, channel, 2);
    const mailer = new WorkerSession("b", ["email"], 2, 0, channel, 2);
    registry.add(resizer);
    registry.add(mailer);
    busy(resizer, 2);
    expect(limits(registry)).toEqual({ a: 2, b: 2 });
    const generalist = new WorkerSession("c", ["email", "resize"], 1, 0, channel);
    registry.add(generalist);
    expect(limits(registry)).toEqual({ b: 2, c: 1 });
  });

  it("serves idle slots before claims to hold when a round's budget is short", () => {
    const registry = new WorkerRegistry();
    const resizer = new WorkerSession("a", ["resize"], 2, 0, channel, 4);
    const mailer = new WorkerSession("b", ["email"], 2, 0, channel);
    registry.add(resizer);
    registry.add(mailer);
    busy(resizer, 2);
    mailer.lastServedRound = 5;
    expect(limits(registry, 3)).toEqual({ b: 2, a: 1 });
  });

  it("gives a worker nothing more to hold while its holding is paused (it handed back a task held too long)", () => {
    const registry = new WorkerRegistry();
    const worker = new WorkerSession("a", ["resize"], 2, 0, channel, 3);
    registry.add(worker);
    busy(worker, 2);
    worker.holdingPaused = true;
    expect(limits(registry)).toEqual({});
    worker.holdingPaused = false;
    expect(limits(registry)).toEqual({ a: 3 });
  });

  it("without prefetch asks for idle slots only, as before", () => {
    const registry = new WorkerRegistry();
    const worker = new WorkerSession("a", ["resize"], 3, 0, channel);
    registry.add(worker);
    busy(worker, 1);
    expect(limits(registry)).toEqual({ a: 2 });
    busy(worker, 3);
    expect(limits(registry)).toEqual({});
  });
});
