// How other Schedulers' commits reach this one: a hint transport (Notifier; LISTEN/NOTIFY here,
// replaceable by NATS or the like) and the EventFeed, which on each hint, each slow poll tick and
// each reconnect re-reads task_events after the last position seen. Hints only wake the feed; the
// table is the truth, so a hint lost while disconnected costs latency, never an event.
import { createHash } from "node:crypto";
import pg from "pg";
import { inSequencePerTask, type LocalSignals } from "../signals.js";
import type { TaskEvent } from "../store.js";
import { connectionConfig, prepared, quoteIdentifier } from "./driver.js";
import type { PostgresTarget } from "./driver.js";
import type { Transaction } from "./group-commit.js";
import { feedPendingSql, feedSql, feedStartSql } from "./sql/events.js";

export interface NotifierHandlers {
  /** A hint another writer sent (after its commit). */
  hint(payload: string): void;
  /** The listening side is connected (first time or again): hints sent while away were lost. */
  connected(): void;
  /** The listening side lost its connection (it reconnects by itself). */
  lost(error: unknown): void;
}

/** The transport of commit hints between the store instances on one database. */
export interface Notifier {
  /** Largest payload `send` may be given, in bytes. */
  readonly maxPayloadBytes: number;
  /**
   * Sends `payload` to every listener if and when `tx` commits. Whatever it writes on `tx` it must
   * send before its first await: the batch's COMMIT follows at once on the pipelined connection.
   */
  send(tx: Transaction, payload: string): Promise<void>;
  /** Resolves once the first attempt to listen has succeeded or failed (it then retries by itself). */
  start(handlers: NotifierHandlers): Promise<void>;
  close(): Promise<void>;
}

const reconnectBaseMs = 100;
const reconnectMaxMs = 5_000;

/**
 * LISTEN/NOTIFY on a dedicated connection (not a pooled one: a pooled connection is handed to
 * other work and its LISTEN would be lost with it). pg_notify runs inside the sender's transaction,
 * so a hint is delivered only if that transaction commits, and after it has.
 */
export class PostgresNotifier implements Notifier {
  readonly maxPayloadBytes = 7_900;
  readonly channel: string;
  private client: pg.Client | null = null;
  private readonly dead = new WeakSet<pg.Client>();
  private handlers: NotifierHandlers | null = null;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly target: PostgresTarget, private readonly applicationName = "orchestrator listener") {
    const name = `orchestrator.${target.schema}`;
    // Channel names are identifiers: at most 63 bytes.
    this.channel = name.length <= 63 ? name : `orchestrator.${createHash("sha256").update(target.schema).digest("hex").slice(0, 40)}`;
  }

  /** The listening connection's server process (to test a lost connection), or null while away. */
  get processId(): number | null {
    return (this.client as unknown as { processID?: number } | null)?.processID ?? null;
  }

  async send(tx: Transaction, payload: string): Promise<void> {
    await tx.query("SELECT pg_notify($1, $2)", [this.channel, payload]);
  }

  start(handlers: NotifierHandlers): Promise<void> {
    this.handlers = handlers;
    return this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (client) {
      this.dead.add(client);
      await client.end().catch(() => undefined);
    }
  }

  private async connect(): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    const client = new pg.Client(connectionConfig(this.target, this.applicationName));
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("the LISTEN connection ended")));
    client.on("notification", (message) => {
      if (message.channel === this.channel && !this.dead.has(client)) this.handlers?.hint(message.payload ?? "");
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(this.channel)}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.closed || this.dead.has(client)) {
      this.dead.add(client);
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    this.handlers?.connected();
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.dead.has(client)) return;
    this.dead.add(client);
    if (this.client === client) this.client = null;
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.handlers?.lost(error);
    const delay = Math.min(reconnectMaxMs, reconnectBaseMs * 2 ** this.failures);
    this.failures += 1;
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }
}

/** What a hint says: who sent it, and which task names became claimable (null: any; absent: none). */
export interface Hint {
  from: string;
  work?: string[] | null;
}

export function encodeHint(hint: Hint, maxBytes: number): string {
  const text = JSON.stringify(hint);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  // Too many names: "any name" is as true and fits.
  return JSON.stringify({ from: hint.from, ...(hint.work !== undefined ? { work: null } : {}) });
}

function decodeHint(payload: string): Hint | null {
  try {
    const parsed = JSON.parse(payload) as Partial<Hint>;
    if (typeof parsed.from !== "string") return null;
    const work = parsed.work === null ? null : Array.isArray(parsed.work) ? parsed.work.filter((name): name is string => typeof name === "string") : undefined;
    return work === undefined ? { from: parsed.from } : { from: parsed.from, work };
  } catch {
    return null;
  }
}

export interface EventFeedOptions {
  pool: pg.Pool;
  notifier: Notifier;
  signals: LocalSignals;
  /** Sent in this store's hints, so it ignores its own. */
  instanceId: string;
  pollIntervalMs: number;
  /** False: no LISTEN; other writers' events and work are found by the poll alone. */
  listen: boolean;
  /** Maps a task_events row to the event callers see (times on their clock). */
  toEvent(row: Record<string, unknown>): TaskEvent;
  /**
   * Other writers may have made tasks of these names claimable (null: of any name, after a poll tick
   * or a reconnect, when hints may have been missed). The store forgets its claim cursors of them
   * and wakes its Scheduler.
   */
  workFromOthers(names: readonly string[] | null): void;
  /** Runs on every (re)connect of the notifier, before the re-read (the store measures the clock skew again). */
  reconnected(): Promise<void>;
  onError(error: unknown): void;
}

const feedPageRows = 1_000;

interface FeedCursor {
  tx: string;
  id: number;
}

/**
 * Other writers' committed events, none skipped and none read twice. Rows are read in (tx, id)
 * order after where the last read ended. A transaction id is taken at the first write, not at
 * commit, so a transaction still running at a read, with an id below where that read ended, may
 * commit rows behind it later: the ids of such transactions are kept (from each statement's
 * snapshot) and their rows read by id until they have ended. So a long transaction elsewhere (an
 * analytics query holding the horizon) costs each read one index probe, not a re-read of every
 * row since it began. This process's own transactions are skipped (their events were reported
 * right after commit).
 *
 * Within one report, each task's events are in sequence order: a transaction can hold an older
 * id than the one that wrote the task's previous event, so (tx, id) order alone does not promise it.
 */
export class EventFeed {
  /** Where the last read ended: every committed row up to it has been read. */
  private end: FeedCursor | null = null;
  /** Transactions running at the last read whose ids are below its end: their rows may still come. */
  private pending = new Set<string>();
  private readonly ownTransactions = new Set<string>();
  /** Settle once the id of each commit of this process now in flight is in ownTransactions. */
  private readonly ownIdsComing = new Set<Promise<void>>();
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Rows read since the start (what the feed costs the database). */
  readonly stats = { rowsRead: 0 };

  constructor(private readonly options: EventFeedOptions) {}

  /** Follows what commits from now on: resolves once the starting position is read. */
  async start(): Promise<void> {
    if (this.end === null) {
      const start = await this.options.pool.query<{ tx: string }>(feedStartSql);
      this.end ??= { tx: String(start.rows[0]?.tx), id: 0 };
    }
    // Listening before start() resolves: a hint sent after it is not missed.
    if (this.options.listen) {
      await this.options.notifier.start({
        hint: (payload) => this.onHint(payload),
        connected: () => void this.onConnected(),
        lost: (error) => this.options.onError(error),
      });
    }
    this.schedulePoll();
  }

  /**
   * A transaction of this process that wrote events, whose id is still on its way while its COMMIT
   * may already be sent (pipelined): the feed will not report its rows again. A read that ends
   * after this call waits for the id before it tells other rows from this process's own.
   */
  ownTransactionStarting(transactionId: Promise<string | null>): void {
    const known: Promise<void> = transactionId.then(
      // Null: the transaction wrote nothing, so no row of the feed is its.
      (id) => void (id === null ? undefined : this.ownTransactions.add(id)),
      () => undefined,
    ).finally(() => this.ownIdsComing.delete(known));
    this.ownIdsComing.add(known);
  }

  /** Reads what other writers committed since the last read; concurrent calls share one read. */
  reread(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        await this.readOnce();
      } while (this.readAgain && !this.closed);
    })()
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.options.notifier.close();
    await this.reading;
  }

  private onHint(payload: string): void {
    const hint = decodeHint(payload);
    if (hint?.from === this.options.instanceId) return;
    void this.reread();
    if (hint === null) this.options.workFromOthers(null);
    else if (hint.work !== undefined) this.options.workFromOthers(hint.work);
  }

  private async onConnected(): Promise<void> {
    try {
      await this.options.reconnected();
    } catch (error) {
      this.options.onError(error);
    }
    await this.reread();
    if (!this.closed) this.options.workFromOthers(null);
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      void this.reread().then(() => {
        if (this.closed) return;
        this.options.workFromOthers(null);
        this.schedulePoll();
      });
    }, this.options.pollIntervalMs);
    this.pollTimer.unref();
  }

  private async readOnce(): Promise<void> {
    if (this.closed || this.end === null) return;
    const rows: Array<{ tx: string; row: Record<string, unknown> }> = [];
    /** Transactions whose rows this read saw (they have ended). */
    const seen = new Set<string>();
    /** Transactions running at any snapshot this read took. */
    const running = new Set<string>();
    /** Takes one page's rows (other writers'); answers where the page ended and whether it was full. */
    const take = (page: Array<Record<string, unknown>>): { last: FeedCursor | null; full: boolean } => {
      const first = page[0];
      for (const runningTx of (first?.running as string[] | undefined) ?? []) running.add(runningTx);
      const others = page.filter((row) => row.id !== null && row.id !== undefined).map((row) => ({ tx: String(row.tx), row }));
      others.sort((a, b) => compareXid(a.tx, b.tx) || Number(a.row.id) - Number(b.row.id));
      for (const other of others) {
        seen.add(other.tx);
        this.stats.rowsRead += 1;
        rows.push(other);
      }
      const last = first?.last_tx === null || first?.last_tx === undefined ? null : { tx: String(first.last_tx), id: Number(first.last_id) };
      return { last, full: Number(first?.scanned ?? 0) >= feedPageRows };
    };
    /** Reads `sql` page by page from `from` on; answers where the last page ended. */
    const readPages = async (sql: string, from: FeedCursor, extra: unknown[]): Promise<FeedCursor> => {
      let cursor = from;
      // Known now: rows of this process's commits whose ids are still coming are read, and dropped below.
      const own = [...this.ownTransactions];
      for (;;) {
        const result = await this.options.pool.query<Record<string, unknown>>(prepared(sql, [cursor.tx, cursor.id, feedPageRows, ...extra, own]));
        const page = take(result.rows);
        cursor = page.last ?? cursor;
        if (!page.full || this.closed) return cursor;
      }
    };
    // Rows committed since by the transactions that were still running behind the last read's end.
    if (this.pending.size > 0) await readPages(feedPendingSql, { tx: "0", id: 0 }, [[...this.pending]]);
    // Rows after the last read's end.
    const end = await readPages(feedSql, this.end, []);
    // Every transaction below the new end either had ended at the snapshot of the page that read
    // past it (its rows were read, if it committed) or was running at one of this read's snapshots.
    const below = BigInt(end.tx);
    this.end = end;
    // A commit of this process may have become visible to this read before its own answer (its id)
    // was read off its connection.
    if (this.ownIdsComing.size > 0) await Promise.all([...this.ownIdsComing]);
    const events = rows.filter(({ tx }) => !this.ownTransactions.has(tx)).map(({ row }) => this.options.toEvent(row));
    this.pending = new Set([...running].filter((tx) => BigInt(tx) < below && !seen.has(tx)));
    for (const tx of this.ownTransactions) if (BigInt(tx) < below && !this.pending.has(tx)) this.ownTransactions.delete(tx);
    if (!this.closed) this.options.signals.emitEvents(inSequencePerTask(events));
  }
}

/** Orders transaction ids (the text of xid8 values) as numbers, as the rest of the feed reads them. */
function compareXid(a: string, b: string): number {
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
