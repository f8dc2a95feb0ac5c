import type { Migration } from "./index.js";

// The submit's W3C Trace Context (NewTask.traceContext) as JSON, NULL for the untraced tasks most
// are: a NULL column costs no space in the row, and enqueue and claim only pass it along. Numbers
// 012 and 014 belong to other changes of this release.
export const traceContext: Migration = {
  version: 13,
  name: "trace context",
  sql: `
ALTER TABLE tasks ADD COLUMN trace_context TEXT;
`,
};
