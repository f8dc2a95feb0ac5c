import { closeSync, fdatasync, openSync } from "node:fs";

/** Flushes a file to stable storage; `fs.fdatasync` in production, a controllable fake in tests. */
export type SyncFile = (fd: number, done: (error: Error | null) => void) => void;

/**
 * Makes commits durable off the event loop. SQLite runs with synchronous=NORMAL, so COMMIT only
 * writes the WAL (a process crash already loses nothing); this then fdatasyncs the WAL file on
 * libuv's thread pool and calls back once every frame written before the call is on disk, which is
 * what synchronous=FULL would have waited for inside COMMIT, blocking the Scheduler's loop.
 * At most one sync runs at a time: commits made while it runs wait for the next one, so a burst
 * of commits shares one fsync and callbacks fire in commit order.
 */
export class WalSync {
  private fd: number | null = null;
  private running = false;
  private waiting: Array<(error: Error | null) => void> = [];

  constructor(private readonly walPath: string, private readonly syncFile: SyncFile = fdatasync) {}

  /** Calls `done` once everything committed before this call is durable. */
  afterCommit(done: (error: Error | null) => void): void {
    this.waiting.push(done);
    if (!this.running) this.start();
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private start(): void {
    const group = this.waiting;
    this.waiting = [];
    let fd: number;
    try {
      // SQLite keeps the WAL file (same inode) for as long as its connection is open.
      fd = this.fd ??= openSync(this.walPath, "r");
    } catch (error) {
      for (const done of group) done(error as Error);
      return;
    }
    this.running = true;
    this.syncFile(fd, (error) => {
      this.running = false;
      for (const done of group) done(error);
      if (this.waiting.length > 0) this.start();
    });
  }
}
