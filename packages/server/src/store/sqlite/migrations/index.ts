/**
 * Numbered migrations, applied in order, each once, inside one transaction with its version row.
 * Never edit a migration that has shipped: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

import { initialSchema } from "./001_initial.js";
import { fewerRunningIndexes } from "./002_fewer_running_indexes.js";
import { idempotencyKeys } from "./003_idempotency_keys.js";
import { idempotencyFingerprints } from "./004_idempotency_fingerprints.js";
import { leadershipAndRetention } from "./005_leadership_and_retention.js";
import { delaysAndPriorities } from "./006_delays_and_priorities.js";
import { pausedNames } from "./007_paused_names.js";
import { schedules } from "./008_schedules.js";
import { concurrencyKeys } from "./009_concurrency_keys.js";
import { rateLimits } from "./010_rate_limits.js";
import { eventOrder } from "./011_event_order.js";
import { finishedByName } from "./012_finished_by_name.js";
import { traceContext } from "./013_trace_context.js";

export const migrations: readonly Migration[] = [
  initialSchema, fewerRunningIndexes, idempotencyKeys, idempotencyFingerprints, leadershipAndRetention, delaysAndPriorities, pausedNames, schedules, concurrencyKeys, rateLimits, eventOrder, finishedByName,
  traceContext,
];
