import { describe, expect, it } from "vitest";
import { prettyLine } from "../../packages/client/src/logger.js";

describe("terminal log format", () => {
  it("prints time, level, message and key=value fields on one line", () => {
    const line = prettyLine(JSON.stringify({ level: "info", time: "2026-01-29T15:23:45.123Z", service: "gateway", msg: "Task submitted", task_id: "abc", name: "data-processing-job" }));
    expect(line).toBe("2026-01-29T15:23:45.123Z INFO Task submitted task_id=abc name=data-processing-job\n");
  });

  it("quotes values with spaces and keeps non-JSON lines as they are", () => {
    expect(prettyLine(JSON.stringify({ level: "warn", time: "t", msg: "m", reason: "two words", n: 3 }))).toBe('t WARN m reason="two words" n=3\n');
    expect(prettyLine("not json")).toBe("not json");
  });
});
