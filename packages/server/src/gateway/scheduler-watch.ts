import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { ProgressUpdate, WatchEnd, WatchEvent, WatchRequest, WatchResponse } from "orchestrator-ts-client/internal";
import { Code, isCode } from "orchestrator-ts-client/internal";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { limits } from "../scheduler/limits.js";
import type { Logger } from "orchestrator-ts-client/internal";

export type WatchCall = ClientDuplexStream<WatchRequest, WatchResponse>;

/** Where a subscription's updates go: a client's SubscribeProgress stream. */
export interface ProgressSink {
  /** False when the client is behind: no credit is granted until drained() resolves. */
  write(update: ProgressUpdate): boolean;
  /** Resolves when the client has caught up, or the signal aborts. */
  drained(signal: AbortSignal): Promise<void>;
}

export interface WatchTarget {
  taskId: string;
  afterSequence: number;
  /** The client connection the subscription serves: the Scheduler is fair between groups. */
  group: number;
}

interface Subscription {
  readonly id: number;
  readonly target: WatchTarget;
  readonly sink: ProgressSink;
  readonly signal: AbortSignal;
  /** Sequence of the last update passed on: a re-subscription resumes after it. */
  last: number;
  /** The stream its subscribe went out on; null while it waits to be sent. */
  stream: WatchCall | null;
  /** Updates passed on since the last credit. */
  owed: number;
  /** Waiting for the client to drain: credit is held back meanwhile. */
  behind: boolean;
  settle(failure?: OrchestratorError): void;
}

/** Events of one group (client connection) received and not yet relayed, from `head` on. */
interface Inbox {
  readonly group: number;
  readonly events: Array<{ stream: WatchCall; event: WatchEvent }>;
  head: number;
}

/** Subscribes (or unsubscribes and credits) per WatchRequest message. */
const maxPerMessage = 1000;
/**
 * Events relayed to clients per turn of the event loop, round robin between client connections:
 * relaying costs a client write each, so a burst (thousands of subscriptions answering at once) is
 * spread over turns, the calls that arrive in between are served in between, and one client's
 * burst does not hold up another client's updates.
 */
const relaysPerTurn = 64;
/** Past this many received events not yet relayed, the watch stream is paused (HTTP/2 flow control reaches the Scheduler). */
const inboxHighWater = 8192;
/** A broken watch stream is reopened at most this often; a second break sooner fails its subscriptions. */
const reconnectIntervalMs = 1000;

/**
 * Every client subscription of the Gateway on one Watch stream to the Scheduler, so subscriptions
 * cost messages, not HTTP/2 streams. What is sent in one turn travels in one message. Each
 * subscription has `limits.watchWindow` updates of credit, renewed as its client's stream takes
 * them, so a slow client holds back its own subscription only and the Gateway never buffers more
 * than the window for it. When the stream breaks after it was up, it is reopened and each live
 * subscription subscribed again after the last sequence it passed on: clients see no gap and no
 * repeat. When it cannot be reopened, the subscriptions fail with what `explain` makes of the
 * error (UNAVAILABLE naming the Scheduler), and the clients resume by themselves.
 */
export class SchedulerWatch {
  private stream: WatchCall | null = null;
  /** The Scheduler has answered the current stream (sent its headers). */
  private established = false;
  private readonly subscriptions = new Map<number, Subscription>();
  private nextId = 1;
  /** Subscriptions whose subscribe waits for the next flush. */
  private unsent = new Set<Subscription>();
  private unsubscribes: number[] = [];
  /** Subscriptions that have passed updates on since the last flush. */
  private readonly creditDue = new Set<Subscription>();
  private flushScheduled = false;
  /** Received events not yet relayed, per group (client connection), with the stream they came on. */
  private readonly inbox = new Map<number, Inbox>();
  /** Groups with events to relay, in round-robin order. */
  private readonly relaying = new Set<Inbox>();
  /** Events in the inbox, all groups together. */
  private inboxSize = 0;
  private relayScheduled = false;
  /** The watch stream is paused because the inbox is full. */
  private paused = false;
  private lastReconnectAt = -Infinity;
  private closed = false;

  constructor(
    private readonly openStream: () => WatchCall,
    private readonly explain: (reason: unknown) => OrchestratorError,
    private readonly logger: Logger,
  ) {}

  /** Subscriptions open now. */
  get size(): number {
    return this.subscriptions.size;
  }

  /** Relays the task's updates to `sink` until the task ends (resolves), fails (rejects) or `signal` aborts (resolves). */
  subscribe(target: WatchTarget, sink: ProgressSink, signal: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new OrchestratorError(Code.Unavailable, "the gateway is shutting down"));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const onAbort = (): void => {
        if (this.subscriptions.get(id) !== subscription) return;
        this.subscriptions.delete(id);
        this.creditDue.delete(subscription);
        // Never sent: nothing to undo (the flush skips it).
        if (subscription.stream && subscription.stream === this.stream) {
          this.unsubscribes.push(id);
          this.schedule();
        }
        resolve();
      };
      const subscription: Subscription = {
        id, target, sink, signal, last: target.afterSequence, stream: null, owed: 0, behind: false,
        settle: (failure) => {
          signal.removeEventListener("abort", onAbort);
          if (failure) reject(failure);
          else resolve();
        },
      };
      if (signal.aborted) {
        resolve();
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      this.subscriptions.set(id, subscription);
      this.unsent.add(subscription);
      this.schedule();
    });
  }

  close(): void {
    this.closed = true;
    const failure = new OrchestratorError(Code.Unavailable, "the gateway is shutting down");
    for (const subscription of this.subscriptions.values()) subscription.settle(failure);
    this.subscriptions.clear();
    this.stream?.cancel();
    this.stream = null;
  }

  private schedule(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what this turn produced: subscribes, unsubscribes and credit, in as few messages as fit. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const credit: WatchRequest["credit"] = [];
    for (const subscription of this.creditDue) {
      if (subscription.owed > 0 && subscription.stream === this.stream) credit.push({ subscriptionId: subscription.id, updates: subscription.owed });
      subscription.owed = 0;
    }
    this.creditDue.clear();
    const unsent = [...this.unsent].filter((s) => this.subscriptions.get(s.id) === s && s.stream === null);
    this.unsent.clear();
    const unsubscribe = this.unsubscribes;
    this.unsubscribes = [];
    if (unsent.length === 0 && unsubscribe.length === 0 && credit.length === 0) return;
    const stream = this.stream ?? this.connect();
    const subscribe = unsent.map((subscription) => {
      subscription.stream = stream;
      const { taskId, group } = subscription.target;
      return { subscriptionId: subscription.id, taskId, afterSequence: subscription.last, group, window: limits.watchWindow };
    });
    // Subscribes go first: an unsubscribe or credit always follows the subscribe it refers to.
    for (let start = 0; start < subscribe.length; start += maxPerMessage) {
      stream.write({ subscribe: subscribe.slice(start, start + maxPerMessage), unsubscribe: [], credit: [] });
    }
    for (let start = 0; start < Math.max(unsubscribe.length, credit.length); start += maxPerMessage) {
      stream.write({ subscribe: [], unsubscribe: unsubscribe.slice(start, start + maxPerMessage), credit: credit.slice(start, start + maxPerMessage) });
    }
  }

  private connect(): WatchCall {
    const stream = this.openStream();
    this.stream = stream;
    this.established = false;
    this.paused = false;
    stream.on("metadata", () => {
      if (this.stream === stream) this.established = true;
    });
    stream.on("data", (response: WatchResponse) => this.receive(stream, response));
    stream.on("error", (error: unknown) => this.broken(stream, error));
    stream.on("end", () => this.broken(stream, new OrchestratorError(Code.Unavailable, "the scheduler ended the watch stream")));
    return stream;
  }

  private receive(stream: WatchCall, response: WatchResponse): void {
    for (const event of response.events) {
      const subscription = this.subscriptions.get(event.subscriptionId);
      if (!subscription || subscription.stream !== stream) continue;
      const group = subscription.target.group;
      let inbox = this.inbox.get(group);
      if (!inbox) {
        inbox = { group, events: [], head: 0 };
        this.inbox.set(group, inbox);
      }
      inbox.events.push({ stream, event });
      this.relaying.add(inbox);
      this.inboxSize++;
    }
    if (this.inboxSize > inboxHighWater && !this.paused) {
      this.paused = true;
      stream.pause();
    }
    if (!this.relayScheduled && this.inboxSize > 0) {
      this.relayScheduled = true;
      setImmediate(() => this.relaySome());
    }
  }

  /** Relays up to relaysPerTurn received events, one per group in turn (in order within a group); the rest in the next turn. */
  private relaySome(): void {
    this.relayScheduled = false;
    for (let budget = relaysPerTurn; budget > 0 && this.relaying.size > 0; budget--) {
      const inbox: Inbox | undefined = this.relaying.values().next().value;
      if (!inbox) break;
      this.relaying.delete(inbox);
      const { stream, event } = inbox.events[inbox.head++] ?? {};
      this.inboxSize--;
      if (inbox.head < inbox.events.length) {
        this.relaying.add(inbox);
        // A group that never runs dry drops what it has relayed now and then.
        if (inbox.head >= 1024 && inbox.head * 2 >= inbox.events.length) {
          inbox.events.splice(0, inbox.head);
          inbox.head = 0;
        }
      } else {
        this.inbox.delete(inbox.group);
      }
      const subscription = event && this.subscriptions.get(event.subscriptionId);
      // Events of a dropped subscription, or of one already subscribed again elsewhere, are moot.
      if (!event || !subscription || subscription.stream !== stream) continue;
      if (event.kind?.$case === "update") this.relay(subscription, event.kind.update);
      else if (event.kind?.$case === "end") this.end(subscription, event.kind.end);
    }
    if (this.relaying.size > 0) {
      this.relayScheduled = true;
      setImmediate(() => this.relaySome());
    }
    if (this.paused && this.inboxSize <= inboxHighWater / 2) {
      this.paused = false;
      this.stream?.resume();
    }
    if (this.creditDue.size > 0) this.schedule();
  }

  private relay(subscription: Subscription, update: ProgressUpdate): void {
    subscription.owed++;
    if (update.sequence > subscription.last) {
      subscription.last = update.sequence;
      if (!subscription.sink.write(update) && !subscription.behind) {
        subscription.behind = true;
        void subscription.sink.drained(subscription.signal).then(() => {
          subscription.behind = false;
          if (this.subscriptions.get(subscription.id) !== subscription) return;
          this.creditDue.add(subscription);
          this.schedule();
        });
      }
    }
    if (!subscription.behind) this.creditDue.add(subscription);
  }

  private end(subscription: Subscription, end: WatchEnd): void {
    this.subscriptions.delete(subscription.id);
    this.creditDue.delete(subscription);
    if (end.code === 0) subscription.settle();
    else subscription.settle(new OrchestratorError(isCode(end.code) ? end.code : Code.Unknown, end.message));
  }

  private broken(stream: WatchCall, error: unknown): void {
    if (this.stream !== stream) return;
    this.stream = null;
    const wasUp = this.established;
    this.established = false;
    const attached = [...this.subscriptions.values()].filter((s) => s.stream === stream);
    if (attached.length === 0 || this.closed) return;
    const now = performance.now();
    if (wasUp && now - this.lastReconnectAt >= reconnectIntervalMs) {
      this.lastReconnectAt = now;
      this.logger.warn({ err: error, subscriptions: attached.length }, "The watch stream to the scheduler broke; subscribing again on a new one");
      for (const subscription of attached) {
        subscription.stream = null;
        subscription.owed = 0;
        this.unsent.add(subscription);
      }
      this.schedule();
      return;
    }
    const failure = this.explain(error);
    for (const subscription of attached) {
      this.subscriptions.delete(subscription.id);
      this.creditDue.delete(subscription);
      subscription.settle(failure);
    }
  }
}
