import type { Migration } from "./index.js";

// The submit's W3C Trace Context (see the SQLite store's 013). Adding a nullable column without a
// default rewrites no row and holds the table's lock only for the catalog change. Numbers 008 and
// 010 belong to other changes of this release.
export const traceContext: Migration = {
  version: 9,
  name: "trace context",
  sql: `
ALTER TABLE tasks ADD COLUMN trace_context text;
`,
};
