import type { Migration } from "./index.js";

// Every claim inserted, and every completion removed, an entry in each of these three indexes.
// Running tasks are bounded by the workers' slots, so the once-a-second lease sweep reads them
// through tasks_by_state_name instead; leases are now renewed by task id, not by worker.
export const fewerRunningIndexes: Migration = {
  version: 2,
  name: "fewer running indexes",
  sql: `
DROP INDEX tasks_running_by_worker;
DROP INDEX tasks_running_by_lease;
DROP INDEX tasks_running_by_deadline;
`,
};
