// The bench's "no task lost, duplicated or retried" verdict (issue 14, point 3): a task stored twice
// for one acknowledged submit is as much a failure as a lost one.
import { describe, expect, it } from "vitest";
import { evaluateTargets, integrityProblems, type ScenarioResult } from "../../bench/src/report.js";
import { integrity } from "../../bench/src/scenarios.js";

const facts = { total: 100, succeeded: 100, notFirstAttempt: 0, minCreatedAt: 0, minStartedAt: 1, maxFinishedAt: 2 };

function resultOf(run: Record<string, number>): ScenarioResult {
  return { workload: "W1", mode: "full", runs: [run], median: run, failures: [], skewedRuns: [] };
}

function verdict(result: ScenarioResult): boolean | undefined {
  return evaluateTargets([result]).find((target) => target.metric === "tasks lost/duplicated/retried")?.pass;
}

describe("bench integrity", () => {
  it("passes a run whose stored tasks are exactly the acknowledged ones, all succeeded once", () => {
    const result = resultOf({ ...integrity(facts, 100), errors: 0 });
    expect(integrityProblems(result)).toBe(0);
    expect(verdict(result)).toBe(true);
  });

  it("fails a run that stored more tasks than were acknowledged", () => {
    const run = { ...integrity({ ...facts, total: 101, succeeded: 101 }, 100), errors: 0 };
    expect(run).toMatchObject({ lost: 0, notFirstAttempt: 0, unacknowledged: 1 });
    expect(integrityProblems(resultOf(run))).toBe(1);
    expect(verdict(resultOf(run))).toBe(false);
  });

  it("fails a run with a lost or a retried task", () => {
    expect(integrityProblems(resultOf({ ...integrity({ ...facts, succeeded: 99 }, 100), errors: 0 }))).toBe(1);
    expect(integrityProblems(resultOf({ ...integrity({ ...facts, notFirstAttempt: 1 }, 100), errors: 0 }))).toBe(1);
  });
});
