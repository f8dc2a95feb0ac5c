import { Counter, type Registry } from "prom-client";
import { AttemptOutcome, type FinishedAttempt, type Worker } from "orchestrator-ts-client/internal";
import { ByName, NameLabels } from "./registry.js";

/** "succeeded", "failed", "timed_out", "cancelled", "rate_limited": the outcome the worker reported. */
function outcomeLabel(outcome: AttemptOutcome): string {
  return (AttemptOutcome[outcome] ?? String(outcome)).replace(/^ATTEMPT_OUTCOME_/, "").toLowerCase();
}

/** Counts the attempts the worker runtime finished, from its "attempt-finished" events. Returns the unsubscribe function. */
export function observeWorkerAttempts(registry: Registry, runtime: Worker): () => void {
  const attempts = new Counter({
    name: "orchestrator_worker_attempts_total", labelNames: ["name", "outcome"] as const, registers: [registry],
    help: "Attempts this worker finished and reported, by task name and outcome (succeeded, failed, timed_out, cancelled, rate_limited).",
  });
  // One child per name and outcome, made once: the name label is capped (NameLabels), outcomes are five.
  const byName = new ByName(new NameLabels(), (label) => ({ label, outcomes: new Map<AttemptOutcome, Counter.Internal>() }));
  const onFinished = (_taskId: string, finished: FinishedAttempt): void => {
    const { label, outcomes } = byName.of(finished.name);
    let child = outcomes.get(finished.outcome);
    if (!child) {
      child = attempts.labels(label, outcomeLabel(finished.outcome));
      outcomes.set(finished.outcome, child);
    }
    child.inc();
  };
  runtime.on("attempt-finished", onFinished);
  return () => runtime.off("attempt-finished", onFinished);
}
