import type { AssignTasks, CancelAttempt } from "orchestrator-ts-client/internal";
import type { AttemptRef, ClaimRequest } from "../store/store.js";

/** What the registry needs from one connected worker's stream. */
export interface WorkerChannel {
  sendAssignments(assign: AssignTasks): void;
  sendCancel(cancel: CancelAttempt): void;
  /** Ends the stream with an error status (used when the worker is presumed dead). */
  close(reason: string): void;
}

/**
 * An attempt a worker holds, as this Scheduler knows it: its name and when this Scheduler assigned
 * it (unknown for an attempt a reconnecting worker reported, until the store has been read).
 */
export interface HeldAttempt extends AttemptRef {
  name?: string | undefined;
  assignedAt?: number | undefined;
}

export function attemptKey(ref: AttemptRef): string {
  return `${ref.taskId}#${ref.attempt}`;
}

/** One connected worker as the Scheduler sees it. */
export class WorkerSession {
  readonly inFlight = new Map<string, HeldAttempt>();
  /** Slots a dispatch round is claiming for now (its claim has not answered yet). */
  claiming = 0;
  draining = false;
  /**
   * The worker handed back a task it held too long (its slots are busy with long tasks): it gets
   * nothing to hold until one of its attempts ends, so the task does not bounce back to it.
   */
  holdingPaused = false;
  lastSeen: number;
  /** The dispatch round that last claimed for this worker (0: none yet). */
  lastServedRound = 0;
  private nameOffset = 0;

  constructor(
    readonly workerId: string,
    readonly taskNames: readonly string[],
    readonly slots: number,
    readonly connectedAt: number,
    readonly channel: WorkerChannel,
    /** Assignments the worker holds beyond its slots, started as slots free (claim-ahead). */
    readonly prefetch = 0,
  ) {
    this.lastSeen = connectedAt;
  }

  /** What a claim may ask for: its idle slots, and what it may hold beyond them (prefetch). */
  get freeSlots(): number {
    const prefetch = this.holdingPaused ? 0 : this.prefetch;
    return this.draining ? 0 : Math.max(0, this.slots + prefetch - this.inFlight.size - this.claiming);
  }

  /** Slots with nothing running or held in them, nor being claimed for. */
  get idleSlots(): number {
    return this.draining ? 0 : Math.max(0, this.slots - this.inFlight.size - this.claiming);
  }

  /** Attempts assigned beyond the slots (claim-ahead): the worker starts one the moment a slot frees, so these wait. */
  get heldAttempts(): number {
    return Math.max(0, this.inFlight.size - this.slots);
  }

  /** The worker's names, starting one further each call, so no name starves the others. */
  rotatedNames(): string[] {
    const offset = this.nameOffset++ % this.taskNames.length;
    return [...this.taskNames.slice(offset), ...this.taskNames.slice(0, offset)];
  }
}

/** The connected workers, their free slots and the attempts each one holds. */
export class WorkerRegistry {
  private readonly sessions = new Map<string, WorkerSession>();
  /** Dispatch rounds so far; orders workers by the round that last served them. */
  private rounds = 0;

  add(session: WorkerSession): WorkerSession | undefined {
    const previous = this.sessions.get(session.workerId);
    this.sessions.set(session.workerId, session);
    return previous;
  }

  /** Removes the session if it is still the registered one for its worker id. */
  remove(session: WorkerSession): boolean {
    if (this.sessions.get(session.workerId) !== session) return false;
    this.sessions.delete(session.workerId);
    return true;
  }

  get(workerId: string): WorkerSession | undefined {
    return this.sessions.get(workerId);
  }

  all(): WorkerSession[] {
    return [...this.sessions.values()];
  }

  /**
   * One claim per worker with free slots, at most `maxTasks` slots in all: the workers served least
   * recently come first, so a worker left out of one round is first in the next. Workers not heard
   * from since `heardSince` are left out: their leases are running out, so a task retried off one of
   * them would otherwise be handed straight back to it (they get work again once they speak).
   * A worker with no idle slot may claim tasks to hold (claim-ahead) only while no worker with an
   * idle slot runs any of its task names: a task is held on a busy worker only when no worker could
   * start it now, and a fleet of workers for other names does not stop it. Claims for idle slots go
   * before claims to hold, so a round's `maxTasks` serves them first.
   */
  claimRequests(maxTasks = Infinity, heardSince = -Infinity): Array<{ session: WorkerSession; request: ClaimRequest }> {
    const round = ++this.rounds;
    const heard = [...this.sessions.values()].filter((session) => session.freeSlots > 0 && session.lastSeen >= heardSince);
    const namesWithIdleSlots = new Set(heard.filter((session) => session.idleSlots > 0).flatMap((session) => session.taskNames));
    const waiting = heard
      .map((session) => {
        const anIdleSlotRunsItsNames = session.taskNames.some((name) => namesWithIdleSlots.has(name));
        return { session, wanted: anIdleSlotRunsItsNames ? session.idleSlots : session.freeSlots, holding: session.idleSlots === 0 };
      })
      .filter(({ wanted }) => wanted > 0);
    waiting.sort((a, b) => Number(a.holding) - Number(b.holding) || a.session.lastServedRound - b.session.lastServedRound);
    const requests = [];
    let budget = maxTasks;
    for (const { session, wanted } of waiting) {
      const limit = Math.min(wanted, budget);
      if (limit <= 0) break;
      budget -= limit;
      session.lastServedRound = round;
      requests.push({ session, request: { workerId: session.workerId, names: session.rotatedNames(), limit } });
    }
    return requests;
  }

  isCurrent(session: WorkerSession): boolean {
    return this.sessions.get(session.workerId) === session;
  }
}
