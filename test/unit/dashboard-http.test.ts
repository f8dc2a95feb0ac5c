// The dashboard API's pure pieces: the preview of bytes (cut at 64 KiB, never inside a character,
// binary as base64), the filter read from a query string, and the error body and status.
import { describe, expect, it } from "vitest";
import { Code } from "../../packages/client/src/errors/code.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { filterIsEmpty, previewBytes, previewOf } from "../../packages/server/src/dashboard/gateway-api.js";
import { errorJson, filterFromQuery } from "../../packages/server/src/dashboard/http.js";

describe("previewOf", () => {
  it("shows small text whole", () => {
    expect(previewOf(Buffer.from('{"a":1}'))).toEqual({ size: 7, text: '{"a":1}', base64: null, truncated: false });
  });

  it("cuts long text at the preview size without splitting a character of 2, 3 or 4 bytes", () => {
    for (const character of ["é", "€", "😀"]) {
      const width = Buffer.byteLength(character);
      // One ASCII byte first, so the cut at previewBytes falls inside a character for every width.
      const bytes = Buffer.from(`x${character.repeat(previewBytes)}`);
      const preview = previewOf(bytes);
      expect(preview.truncated).toBe(true);
      expect(preview.size).toBe(bytes.byteLength);
      expect(preview.text).not.toBeNull();
      const shown = Buffer.byteLength(preview.text ?? "");
      expect(shown).toBeLessThanOrEqual(previewBytes);
      expect(shown).toBeGreaterThan(previewBytes - width);
      expect(bytes.toString("utf8").startsWith(preview.text ?? "\u0000")).toBe(true);
    }
  });

  it("shows bytes that are not UTF-8 as base64, up to the preview size", () => {
    const bytes = Buffer.alloc(previewBytes + 10, 0xff);
    const preview = previewOf(bytes);
    expect(preview.text).toBeNull();
    expect(Buffer.from(preview.base64 ?? "", "base64").byteLength).toBe(previewBytes);
    expect(preview.truncated).toBe(true);
  });
});

describe("filterFromQuery", () => {
  it("reads names and states as comma-separated lists, the key, and times as Unix ms or ISO", () => {
    const filter = filterFromQuery(new URLSearchParams("name=a,b&name=c&state=failed,cancelled&key=k1&after=1700000000000&before=2024-01-02T03:04:05Z"));
    expect(filter).toEqual({
      names: ["a", "b", "c"], states: ["failed", "cancelled"], concurrencyKey: "k1", scheduleId: undefined,
      createdAfterMs: 1_700_000_000_000, createdBeforeMs: Date.UTC(2024, 0, 2, 3, 4, 5),
    });
    expect(filterIsEmpty(filter)).toBe(false);
    expect(filterIsEmpty(filterFromQuery(new URLSearchParams("name=&state=")))).toBe(true);
  });

  it("refuses an unknown state and a time it cannot read, naming them", () => {
    expect(() => filterFromQuery(new URLSearchParams("state=done"))).toThrow(/state "done" is not a task state/);
    expect(() => filterFromQuery(new URLSearchParams("after=yesterday"))).toThrow(/after "yesterday" is not a time/);
  });
});

describe("errorJson", () => {
  it("names the code as gRPC does and keeps the message", () => {
    expect(errorJson(new OrchestratorError(Code.FailedPrecondition, "only failed or cancelled tasks can be retried"))).toEqual({
      code: "FAILED_PRECONDITION", message: "only failed or cancelled tasks can be retried",
    });
    expect(errorJson(new OrchestratorError(Code.Unauthenticated, "no"))).toMatchObject({ code: "UNAUTHENTICATED" });
  });
});
