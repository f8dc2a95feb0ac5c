import type { Migration } from "./index.js";

// A key reused with a different request is refused (ALREADY_EXISTS) instead of answered with the
// first task. Keys stored before this migration have no fingerprint and keep answering their task.
export const idempotencyFingerprints: Migration = {
  version: 4,
  name: "idempotency fingerprints",
  sql: `
ALTER TABLE idempotency_keys ADD COLUMN fingerprint TEXT;
`,
};
