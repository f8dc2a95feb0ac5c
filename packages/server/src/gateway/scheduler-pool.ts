import { connectivityState, type ChannelCredentials, type ChannelOptions, type Metadata } from "@grpc/grpc-js";
import { Code, OrchestratorError, SchedulerClient, callUnary, randomStart, type Logger, type UnaryMethod } from "orchestrator-ts-client/internal";

interface Member {
  readonly address: string;
  readonly client: SchedulerClient;
}

/**
 * The Schedulers a Gateway talks to, one channel each, and which one the next call or stream goes
 * to: the next connected one in turn, starting at a random position so that several Gateways
 * spread over the Schedulers. A Scheduler that is down is skipped until its channel is back.
 *
 * Why not one grpc-js channel with the `round_robin` policy over all addresses: a channel verifies
 * every Scheduler's TLS certificate against the one name of its target, so Schedulers with
 * certificates of their own names would fail; and a list of host names needs a resolver of our own
 * (`experimental.registerResolver`), whose interface changes between grpc-js minor versions. One
 * channel per address keeps DNS, TLS and reconnect backoff per Scheduler exactly as with one
 * address; what is left to do here is choosing among connected channels, a few lines.
 */
export class SchedulerPool {
  private readonly members: Member[];
  private next: number;
  /** The address each kind of stream last opened on: a move to another is logged. */
  private readonly streamsAt = new Map<string, string>();
  private closed = false;

  constructor(addresses: readonly string[], credentials: ChannelCredentials, channelOptions: ChannelOptions, private readonly logger: Logger) {
    this.members = addresses.map((address) => ({ address, client: new SchedulerClient(address, credentials, channelOptions) }));
    this.next = randomStart(this.members.length);
    // Connect at once, so that the first call already knows which Schedulers are up.
    for (const member of this.members) this.followState(member, member.client.getChannel().getConnectivityState(true));
  }

  get addresses(): string[] {
    return this.members.map((member) => member.address);
  }

  /** Schedulers whose channel is connected now (asking wakes an idle channel, as pick() does). */
  connectedCount(): number {
    return this.members.filter((member) => member.client.getChannel().getConnectivityState(true) === connectivityState.READY).length;
  }

  /**
   * The next Scheduler in turn whose channel is connected; failing that, the next one still
   * connecting (its calls wait for it); failing that, the next one (its calls fail at once with
   * UNAVAILABLE). Asking a channel for its state also wakes an idle one, so a Scheduler that came
   * back rejoins.
   */
  pick(): Member {
    const count = this.members.length;
    let fallback: number | undefined;
    let chosen: number | undefined;
    for (let offset = 0; offset < count && chosen === undefined; offset++) {
      const index = (this.next + offset) % count;
      const state = (this.members[index] as Member).client.getChannel().getConnectivityState(true);
      if (state === connectivityState.READY) chosen = index;
      else if (fallback === undefined && state !== connectivityState.TRANSIENT_FAILURE) fallback = index;
    }
    const index = chosen ?? fallback ?? this.next % count;
    this.next = (index + 1) % count;
    return this.members[index] as Member;
  }

  /**
   * One unary call to the next Scheduler. A call that fails with UNAVAILABLE (its Scheduler died
   * under it) is tried once more on another when `idempotent`: a read, or a call that does the
   * same when made twice. Others fail, since the Scheduler may have done them; the client decides.
   */
  async unary<Req, Res>(method: (client: SchedulerClient) => UnaryMethod<Req, Res>, request: Req, timeoutMs: number, idempotent: boolean, metadata?: Metadata): Promise<Res> {
    const first = this.pick();
    try {
      return await callUnary(first.client, method(first.client), request, timeoutMs, metadata);
    } catch (error) {
      if (!idempotent || OrchestratorError.from(error).code !== Code.Unavailable) throw error;
      const second = this.pick();
      if (second === first) throw error;
      this.logger.warn({ scheduler: first.address, next_scheduler: second.address, reason: OrchestratorError.from(error).rawMessage }, "A call to the scheduler failed; trying the next scheduler");
      return await callUnary(second.client, method(second.client), request, timeoutMs, metadata);
    }
  }

  /** Opens a stream of `kind` (submit, watch) on the next Scheduler; a move to another address is logged. */
  openStream<T>(kind: string, open: (client: SchedulerClient) => T): T {
    const member = this.pick();
    const previous = this.streamsAt.get(kind);
    this.streamsAt.set(kind, member.address);
    if (previous !== undefined && previous !== member.address) {
      this.logger.warn({ stream: kind, scheduler: member.address, previous_scheduler: previous }, `The ${kind} stream moves to the scheduler at ${member.address}`);
    } else {
      this.logger.debug({ stream: kind, scheduler: member.address }, `Opening the ${kind} stream to the scheduler at ${member.address}`);
    }
    return open(member.client);
  }

  close(): void {
    this.closed = true;
    for (const member of this.members) member.client.close();
  }

  /**
   * Logs a Scheduler's connection coming and going, which is what decides where calls go. With
   * several Schedulers it also reconnects a channel that went idle (its Scheduler died or
   * restarted): calls go to the others meanwhile, so nothing else would wake it, and a Scheduler
   * that is back rejoins once connected (grpc-js's reconnect backoff paces the attempts). A lone
   * Scheduler's channel is left idle until the next call, as before: reconnecting it early would
   * put it in backoff while its Scheduler restarts, and calls right after the restart would fail.
   */
  private followState(member: Member, state: connectivityState): void {
    const channel = member.client.getChannel();
    channel.watchConnectivityState(state, Infinity, () => {
      if (this.closed) return;
      const now = channel.getConnectivityState(false);
      if (now === connectivityState.SHUTDOWN) return;
      if (now === connectivityState.READY) {
        this.logger.info({ scheduler: member.address }, `Connected to the scheduler at ${member.address}`);
      } else if (state === connectivityState.READY && this.members.length > 1) {
        this.logger.warn({ scheduler: member.address, schedulers: this.addresses }, `Lost the connection to the scheduler at ${member.address}; calls go to the other schedulers`);
      } else if (state === connectivityState.READY) {
        this.logger.warn({ scheduler: member.address }, `Lost the connection to the scheduler at ${member.address}`);
      }
      const reconnect = now === connectivityState.IDLE && this.members.length > 1;
      this.followState(member, reconnect ? channel.getConnectivityState(true) : now);
    });
  }
}
