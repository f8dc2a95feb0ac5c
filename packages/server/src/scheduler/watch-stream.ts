import { Metadata, type ServerDuplexStream } from "@grpc/grpc-js";
import type { WatchEvent, WatchRequest, WatchResponse, WatchSubscribe } from "orchestrator-ts-client/internal";
import { eventToProto } from "../protocol/convert.js";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { toServiceError } from "orchestrator-ts-client/internal";
import type { TaskEvent } from "../store/store.js";
import type { Logger } from "orchestrator-ts-client/internal";
import type { EventSink, Scheduler } from "./scheduler.js";

/**
 * Subscriptions started per turn of the event loop. Each start reads the store (synchronously, in
 * SQLite's case), so a flood of subscribes is spread over turns and the calls that arrive in
 * between are served in between.
 */
const startsPerTurn = 50;
/** Events sent per turn; the rest follow in the next turn, round robin. */
const eventsPerTurn = 1000;
/** A WatchResponse holds at most this many events, and past this many bytes (estimated) no more. */
const eventsPerMessage = 256;
const bytesPerMessage = 1024 * 1024;
/** Largest WatchSubscribe.window accepted. */
const maxWindow = 1000;

type WatchCall = ServerDuplexStream<WatchRequest, WatchResponse>;

const unsubscribed = Object.freeze({ name: "AbortError", message: "unsubscribed" });

/** The subscriptions of one Gateway client connection: the unit of fairness. */
interface Group {
  readonly id: number;
  /** Subscriptions of the group not yet finished or dropped. */
  members: number;
  /** Subscriptions waiting to start, in arrival order. */
  readonly starting: Subscription[];
  /** Subscriptions with events to send, in round-robin order. */
  readonly ready: Set<Subscription>;
}

/**
 * One subscription, the sink of Scheduler.watch(): an event takes one unit of credit, and the
 * watch waits (drained) while the credit is spent, so the Scheduler holds at most `window`
 * unsent or unacknowledged events per subscription whatever the reader does.
 */
class Subscription implements EventSink {
  readonly outbox: WatchEvent[] = [];
  readonly abort = new AbortController();
  private credit: number;
  private waiting: (() => void) | null = null;

  constructor(readonly id: number, readonly request: WatchSubscribe, readonly group: Group, private readonly queued: (subscription: Subscription) => void) {
    this.credit = request.window;
  }

  write(event: TaskEvent): boolean {
    this.outbox.push({ subscriptionId: this.id, kind: { $case: "update", update: eventToProto(event) } });
    this.credit--;
    this.queued(this);
    return this.credit > 0;
  }

  drained(signal: AbortSignal): Promise<void> {
    if (this.credit > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => (this.waiting = resolve));
  }

  grant(updates: number): void {
    this.credit += updates;
    if (this.credit > 0) this.wake();
  }

  end(code: number, message: string): void {
    this.outbox.push({ subscriptionId: this.id, kind: { $case: "end", end: { code, message } } });
    this.queued(this);
  }

  cancel(): void {
    // A fixed reason: abort() without one builds a DOMException (with a stack trace) each time.
    this.abort.abort(unsubscribed);
    this.outbox.length = 0;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }
}

/** Rough size of an event on the wire, to keep messages well under the 4 MiB limit. */
function sizeOf(event: WatchEvent): number {
  if (event.kind?.$case !== "update") return 64;
  const update = event.kind.update;
  return 96 + update.result.length + 3 * (update.message.length + update.error.length + update.workerId.length);
}

function first<T>(set: Set<T>): T | undefined {
  return set.values().next().value;
}

/** Serves a Watch stream until the Gateway closes it; see WatchStream. */
export function serveWatchStream(call: WatchCall, scheduler: Scheduler, logger: Logger): void {
  new WatchStream(call, scheduler, logger);
}

/**
 * Serves one Watch stream: the Gateway's subscriptions (all its clients' SubscribeProgress) on one
 * stream. Starts and sends are served round robin between groups (the Gateway's client
 * connections), then between the subscriptions of a group, a bounded amount per turn, so one
 * client's thousands of subscriptions delay neither another client's subscription nor anyone's
 * unary calls for long.
 */
export class WatchStream {
  private readonly subscriptions = new Map<number, Subscription>();
  private readonly groups = new Map<number, Group>();
  /** Groups with subscriptions waiting to start, in round-robin order. */
  private readonly starting = new Set<Group>();
  /** Groups with events to send, in round-robin order. */
  private readonly sending = new Set<Group>();
  private pumpScheduled = false;
  /** The Gateway reads slower than we send: wait for "drain". */
  private blocked = false;
  private closed = false;

  constructor(private readonly call: WatchCall, private readonly scheduler: Scheduler, private readonly logger: Logger) {
    // Headers at once: they tell the Gateway the stream is up (a break after this is worth a reconnect).
    call.sendMetadata(new Metadata());
    call.on("data", (request: WatchRequest) => this.receive(request));
    call.on("drain", () => {
      this.blocked = false;
      this.schedule();
    });
    call.on("end", () => {
      this.close();
      call.end();
    });
    call.on("cancelled", () => this.close());
    call.on("error", () => this.close());
    call.on("close", () => this.close());
  }

  private receive(request: WatchRequest): void {
    if (this.closed) return;
    for (const subscribe of request.subscribe) this.subscribe(subscribe);
    for (const id of request.unsubscribe) this.unsubscribe(id);
    for (const credit of request.credit) this.subscriptions.get(credit.subscriptionId)?.grant(credit.updates);
  }

  private subscribe(request: WatchSubscribe): void {
    if (this.subscriptions.has(request.subscriptionId)) {
      this.fail(OrchestratorError.invalidArgument(`subscription_id ${request.subscriptionId} is already in use on this stream`));
      return;
    }
    let group = this.groups.get(request.group);
    if (!group) {
      group = { id: request.group, members: 0, starting: [], ready: new Set() };
      this.groups.set(request.group, group);
    }
    const subscription = new Subscription(request.subscriptionId, request, group, (s) => this.queued(s));
    this.subscriptions.set(request.subscriptionId, subscription);
    group.members++;
    if (request.window < 1 || request.window > maxWindow) {
      this.finish(subscription, OrchestratorError.invalidArgument(`window must be 1-${maxWindow}, got ${request.window}`));
      return;
    }
    group.starting.push(subscription);
    this.starting.add(group);
    this.schedule();
  }

  private unsubscribe(id: number): void {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return;
    this.left(subscription);
    subscription.cancel();
    subscription.group.ready.delete(subscription);
  }

  /** A subscription has events to send. */
  private queued(subscription: Subscription): void {
    if (this.closed || subscription.abort.signal.aborted) return;
    subscription.group.ready.add(subscription);
    this.sending.add(subscription.group);
    this.schedule();
  }

  private schedule(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (this.closed) return;
    this.startSome();
    this.sendSome();
    if (this.starting.size > 0 || (this.sending.size > 0 && !this.blocked)) this.schedule();
  }

  private startSome(): void {
    for (let started = 0; started < startsPerTurn && this.starting.size > 0;) {
      const group = first(this.starting);
      if (!group) break;
      this.starting.delete(group);
      const subscription = group.starting.shift();
      if (group.starting.length > 0) this.starting.add(group);
      if (!subscription || subscription.abort.signal.aborted) continue;
      started++;
      const { taskId, afterSequence } = subscription.request;
      this.scheduler.watch(taskId, afterSequence, subscription, subscription.abort.signal).then(
        () => this.finish(subscription),
        (error: unknown) => this.finish(subscription, error),
      );
    }
  }

  private sendSome(): void {
    let events: WatchEvent[] = [];
    let bytes = 0;
    for (let budget = eventsPerTurn; budget > 0 && this.sending.size > 0 && !this.blocked; budget--) {
      const group = first(this.sending);
      if (!group) break;
      this.sending.delete(group);
      const subscription = first(group.ready);
      if (subscription) group.ready.delete(subscription);
      const event = subscription?.outbox.shift();
      if (subscription && subscription.outbox.length > 0) group.ready.add(subscription);
      if (group.ready.size > 0) this.sending.add(group);
      if (!event) continue;
      events.push(event);
      bytes += sizeOf(event);
      if (events.length >= eventsPerMessage || bytes >= bytesPerMessage) {
        this.send(events);
        events = [];
        bytes = 0;
      }
    }
    if (events.length > 0) this.send(events);
  }

  private send(events: WatchEvent[]): void {
    if (!this.call.write({ events })) this.blocked = true;
  }

  /** The subscription's last event: OK after the terminal update, else the status it failed with. */
  private finish(subscription: Subscription, error?: unknown): void {
    if (this.closed || subscription.abort.signal.aborted) return;
    this.left(subscription);
    if (error === undefined) {
      subscription.end(0, "");
    } else {
      const failure = OrchestratorError.from(error);
      if (!(error instanceof OrchestratorError)) this.logger.error({ err: error, task_id: subscription.request.taskId }, "A watch failed unexpectedly");
      subscription.end(failure.code, failure.rawMessage);
    }
  }

  /**
   * The subscription is finished or dropped. A group with no members left is forgotten; whatever it
   * still has to send goes out from the round-robin sets, which hold on to it until then.
   */
  private left(subscription: Subscription): void {
    this.subscriptions.delete(subscription.id);
    const group = subscription.group;
    group.members--;
    if (group.members === 0 && this.groups.get(group.id) === group) this.groups.delete(group.id);
  }

  private fail(error: OrchestratorError): void {
    this.logger.warn({ err: error }, "Closing a watch stream that broke the protocol");
    this.call.emit("error", toServiceError(error));
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const subscription of this.subscriptions.values()) subscription.cancel();
    this.subscriptions.clear();
    this.groups.clear();
    this.starting.clear();
    this.sending.clear();
  }
}
