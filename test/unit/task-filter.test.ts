// The SDK's TaskFilter as the wire carries it: string states to the enum, Dates and numbers to Unix
// milliseconds, and a state that does not exist refused before any call.
import { describe, expect, it } from "vitest";
import { TaskState } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { toWireFilter, type TaskFilter } from "../../packages/client/src/task-filter.js";

describe("the SDK's TaskFilter", () => {
  it("maps states, names and times to the wire", () => {
    const at = Date.UTC(2026, 0, 1);
    expect(toWireFilter({ names: ["a", "b"], states: ["failed", "cancelled"], concurrencyKey: "k", scheduleId: "s", createdAfter: new Date(at), createdBefore: at + 1 })).toEqual({
      names: ["a", "b"], states: [TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELLED], concurrencyKey: "k", scheduleId: "s",
      createdAfterMs: at, createdBeforeMs: at + 1,
    });
    expect(toWireFilter({})).toEqual({ names: [], states: [], concurrencyKey: undefined, scheduleId: undefined, createdAfterMs: undefined, createdBeforeMs: undefined });
  });

  it("refuses an unknown state with INVALID_ARGUMENT listing the states", () => {
    const filter = { states: ["done"] } as unknown as TaskFilter;
    const error = (() => {
      try {
        toWireFilter(filter);
        return null;
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(OrchestratorError);
    expect((error as OrchestratorError).code).toBe(Code.InvalidArgument);
    expect((error as OrchestratorError).rawMessage).toBe('"done" is not a task state; the states are scheduled, queued, running, retrying, succeeded, failed, cancelled');
  });
});
