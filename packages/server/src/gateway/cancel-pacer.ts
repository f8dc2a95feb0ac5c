/**
 * Paces the cancels of upstream streams. Each cancel is an HTTP/2 RST_STREAM on the Gateway's one
 * connection to the Scheduler, and Node's HTTP/2 server closes a connection that resets streams
 * faster than about 33 per second after a burst of 1,000 (its "rapid reset" guard). Without
 * pacing, one client dropping a thousand subscriptions at once would cut every other client's calls
 * through that connection. A stream waiting here is paused, so it costs no work meanwhile.
 */
export class CancelPacer {
  private readonly waiting: Array<{ cancel(): void }> = [];
  private tokens: number;
  private refilledAt = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly perSecond = 30, private readonly burst = 500) {
    this.tokens = burst;
  }

  cancel(stream: { cancel(): void; pause(): unknown }): void {
    stream.pause();
    this.waiting.push(stream);
    this.drain();
  }

  /** Cancels whatever still waits (on shutdown, when the connection closes anyway). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const stream of this.waiting.splice(0)) stream.cancel();
  }

  private drain(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    while (this.waiting.length > 0 && this.tokens >= 1) {
      this.tokens--;
      this.waiting.shift()?.cancel();
    }
    if (this.waiting.length > 0 && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, Math.ceil(1000 / this.perSecond));
      this.timer.unref();
    }
  }
}
