import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Logger } from "orchestrator-ts-client/internal";
import type { SchedulerMetrics } from "../scheduler/metrics.js";
import type { ClaimedAttempt, TaskState, WaitingCount } from "../store/store.js";
import { ByName, NameLabels } from "./registry.js";

/** Seconds from runnable to assigned: a millisecond to a minute. */
const dispatchBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds an attempt ran: 5 ms to an hour. */
const attemptBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Seconds one store commit took: half a millisecond to a second. */
const commitBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** How long a count of the waiting tasks is served again before the store is asked anew, ms. */
export const waitingCacheMs = 1000;

/** What the Scheduler's gauges read at scrape time. */
export interface SchedulerMetricsSources {
  /** The workers attached to this Scheduler: each one's slots, attempts held, and whether it drains. */
  workers(): ReadonlyArray<{ slots: number; running: number; draining: boolean }>;
  /** Waiting tasks by name and state, from the store (cluster-wide). */
  waitingByName(): Promise<WaitingCount[]>;
}

/**
 * The Scheduler's Prometheus series (README, "Metrics and health", lists them). Counters and
 * histograms are per process: each Scheduler counts what it recorded, so a cluster's figure is
 * the sum over its Schedulers. The gauges of waiting tasks are cluster-wide: read from the store at
 * scrape time (cached for waitingCacheMs, so scrapes cannot hammer it).
 */
export class PrometheusSchedulerMetrics implements SchedulerMetrics {
  private readonly submitted: ByName<Counter.Internal>;
  private readonly started: ByName<Counter.Internal>;
  private readonly succeeded: ByName<Counter.Internal>;
  private readonly failed: ByName<Counter.Internal>;
  private readonly retried: ByName<Counter.Internal>;
  private readonly cancelled: ByName<Counter.Internal>;
  private readonly dispatchLatency: ByName<Histogram.Internal<"name">>;
  private readonly attemptDuration: ByName<Histogram.Internal<"name">>;
  private readonly storeCommit: Histogram;
  private waiting: { at: number; counts: Promise<WaitingCount[]> } | null = null;

  constructor(
    registry: Registry,
    private readonly sources: SchedulerMetricsSources,
    private readonly logger: Logger,
    /** Monotonic ms, for the waiting count's cache. */
    private readonly now: () => number = () => performance.now(),
  ) {
    const names = new NameLabels();
    const registers = [registry];
    const counter = (name: string, help: string): ByName<Counter.Internal> => {
      const metric = new Counter({ name, help, labelNames: ["name"] as const, registers });
      return new ByName(names, (label) => metric.labels(label));
    };
    this.submitted = counter("orchestrator_tasks_submitted_total", "Tasks stored by submits through this Scheduler (an idempotent repeat is not counted), by task name.");
    this.started = counter("orchestrator_tasks_started_total", "Attempts this Scheduler handed to a worker, by task name.");
    this.succeeded = counter("orchestrator_tasks_succeeded_total", "Tasks whose success this Scheduler recorded, by task name.");
    this.failed = counter("orchestrator_tasks_failed_total", "Tasks that finally failed (no retry left, or not retryable) as recorded by this Scheduler, by task name.");
    this.retried = counter("orchestrator_tasks_retried_total", "Failed attempts for which this Scheduler scheduled a retry, by task name.");
    this.cancelled = counter("orchestrator_tasks_cancelled_total", "Unfinished tasks cancelled through this Scheduler, by task name.");
    const dispatch = new Histogram({
      name: "orchestrator_dispatch_latency_seconds", labelNames: ["name"] as const, buckets: dispatchBuckets, registers,
      help: "First attempts this Scheduler assigned: seconds from the task's submit (or its run_at, when later) to its assignment to a worker, by task name.",
    });
    this.dispatchLatency = new ByName(names, (label) => dispatch.labels(label));
    const attempt = new Histogram({
      name: "orchestrator_attempt_duration_seconds", labelNames: ["name"] as const, buckets: attemptBuckets, registers,
      help: "Attempts this Scheduler assigned whose result a worker reported to it: seconds from the assignment to the recorded result, by task name.",
    });
    this.attemptDuration = new ByName(names, (label) => attempt.labels(label));
    this.storeCommit = new Histogram({
      name: "orchestrator_store_commit_seconds", buckets: commitBuckets, registers,
      help: "Seconds each batch of writes this Scheduler committed to the store took, from its first statement to its COMMIT.",
    });
    const workers = sources.workers.bind(sources);
    new Gauge({
      name: "orchestrator_workers", help: "Workers attached to this Scheduler.", registers,
      collect() {
        this.set(workers().length);
      },
    });
    new Gauge({
      name: "orchestrator_worker_slots", help: "Slots of the workers attached to this Scheduler: busy (running an attempt) or free (a draining worker has none free).",
      labelNames: ["state"] as const, registers,
      collect() {
        let busy = 0;
        let free = 0;
        for (const worker of workers()) {
          busy += worker.running;
          if (!worker.draining) free += Math.max(0, worker.slots - worker.running);
        }
        this.set({ state: "busy" }, busy);
        this.set({ state: "free" }, free);
      },
    });
    const waitingCounts = (): Promise<WaitingCount[]> => this.waitingCounts();
    new Gauge({
      name: "orchestrator_tasks_waiting", help: "Tasks waiting to run in the whole store (all Schedulers), by task name and state (scheduled, queued, retrying).",
      labelNames: ["name", "state"] as const, registers,
      async collect() {
        const counts = await waitingCounts();
        this.reset();
        // Names past the label cap are added up under one label.
        for (const { name, state, count } of counts) this.inc({ name: names.of(name), state }, count);
      },
    });
  }

  taskSubmitted(name: string): void {
    this.submitted.of(name).inc();
  }

  attemptStarted(attempt: ClaimedAttempt, now: number): void {
    this.started.of(attempt.name).inc();
    // A retry's wait is its backoff, chosen, not a dispatch delay.
    if (attempt.attempt === 1) this.dispatchLatency.of(attempt.name).observe(Math.max(0, now - attempt.runnableSince) / 1000);
  }

  attemptEnded(name: string, state: TaskState, durationMs: number | null): void {
    if (state === "succeeded") this.succeeded.of(name).inc();
    else if (state === "retrying") this.retried.of(name).inc();
    else if (state === "failed") this.failed.of(name).inc();
    if (durationMs !== null) this.attemptDuration.of(name).observe(Math.max(0, durationMs) / 1000);
  }

  taskCancelled(name: string): void {
    this.cancelled.of(name).inc();
  }

  storeCommitted(durationMs: number): void {
    this.storeCommit.observe(durationMs / 1000);
  }

  /** One store count per waitingCacheMs, shared by the scrapes meanwhile. A failed count is not kept. */
  private waitingCounts(): Promise<WaitingCount[]> {
    const now = this.now();
    if (this.waiting && now - this.waiting.at < waitingCacheMs) return this.waiting.counts;
    const counts = this.sources.waitingByName().catch((error: unknown) => {
      this.waiting = null;
      this.logger.warn({ err: error }, "Could not count the waiting tasks for the metrics");
      return [];
    });
    this.waiting = { at: now, counts };
    return counts;
  }
}
