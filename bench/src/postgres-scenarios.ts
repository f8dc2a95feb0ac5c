// The workloads that exist only on PostgreSQL: dispatch across two Schedulers sharing one schema,
// and W1-like load while a long REPEATABLE READ transaction holds back VACUUM's horizon.
import { OrchestratorClient } from "orchestrator-ts-client/internal";
import type { PacedOutcome, SubmitOutcome } from "./client.js";
import { HeldTransaction, PostgresCounters, type BenchSchema, type HeldSnapshotKind } from "./postgres.js";
import { drainBoundMs, ForeignCpu, integrity, runClient, spread, withDeployment, type Metrics, type Sizes } from "./scenarios.js";
import { Deployment } from "./services.js";
import { round } from "./util.js";

/**
 * One task through the Gateway (Scheduler A) until it succeeds: it runs once B's worker has
 * registered and A sees B's events, so the measured tasks find the whole path ready.
 */
async function warmUp(gatewayAddress: string, timeoutMs = 30_000): Promise<void> {
  const client = new OrchestratorClient({ address: gatewayAddress, timeoutMs });
  try {
    const { taskId } = await client.submit({ name: "bench-clock" });
    const terminal = await client.waitForResult(taskId);
    if (terminal.state !== "succeeded") throw new Error(`the warm-up task ended ${terminal.state}`);
  } finally {
    client.close();
  }
}

/**
 * X-dispatch: Schedulers A and B on one schema, the Gateway on A, the only worker on B. Tasks are
 * submitted at a low rate (each done long before the next), as W2 does: dispatch latency is the
 * handler's start (worker's clock) minus the submit call's start, so every task crosses the
 * database from A's commit to B's claim (NOTIFY, or B's poll if a hint is missed).
 */
export function runCrossDispatch(sizes: Sizes): Promise<Metrics> {
  const deployment = new Deployment({ store: "postgres", workerSlots: sizes.w1Slots, crossScheduler: true });
  return withDeployment(deployment, async (reader) => {
    await warmUp(deployment.gatewayAddress);
    const foreign = new ForeignCpu(deployment);
    const outcome = await runClient<PacedOutcome>({
      kind: "paced", address: deployment.gatewayAddress, rate: sizes.crossRate, seconds: sizes.crossSeconds, taskName: "bench-clock",
    }, sizes.crossSeconds * 1000 + 60_000);
    const acknowledged = outcome.acknowledged + 1; // and the warm-up task
    await reader.waitForSucceeded(acknowledged, 10_000);
    if (outcome.firstError) process.stderr.write(`  first error: ${outcome.firstError}\n`);
    return {
      ...foreign.measure(outcome.processCpuSeconds), achievedRate: outcome.achievedRate, maxPacingLagMs: outcome.maxPacingLagMs,
      ...spread("dispatch", outcome.dispatchMs), ...spread("eventCompletion", outcome.eventCompletionMs),
      errors: outcome.errors + outcome.notSucceeded, ...integrity(await reader.facts(), acknowledged),
    };
  });
}

/**
 * W1 rounds (`horizonRoundTasks` tasks through the SDK, then wait until all succeeded) repeated on one
 * deployment for `horizonSeconds`, with `held` transaction open the whole time (none: the baseline).
 * Each round's drain rate is its tasks / (last finished_at - first created_at), read through the
 * API: a round's tasks are those created from just before its first submit (every task of the
 * previous round was created before that round's submits were acknowledged), so each round gets a
 * view of its own from that moment.
 */
function horizonPhase(held: HeldSnapshotKind | undefined, sizes: Sizes): Promise<Metrics> {
  const deployment = new Deployment({ store: "postgres", workerSlots: sizes.w1Slots });
  return withDeployment(deployment, async (reader) => {
    if (!deployment.schema) throw new Error("the horizon phase runs on PostgreSQL");
    const transaction = held ? new HeldTransaction(held, deployment.schema) : undefined;
    await transaction?.begin();
    try {
      const foreign = new ForeignCpu(deployment);
      const rates: number[] = [];
      let tasks = 0;
      let seconds = 0;
      let acknowledged = 0;
      let errors = 0;
      let clientCpu = 0;
      const ends = Date.now() + sizes.horizonSeconds * 1000;
      while (Date.now() < ends) {
        const roundTasks = reader.since(Date.now());
        const outcome = await runClient<SubmitOutcome>({
          kind: "submit", address: deployment.gatewayAddress, mode: "sdk", count: sizes.horizonRoundTasks, concurrency: sizes.w1Concurrency,
          batchSize: sizes.batchSize, taskName: "noop",
        }, drainBoundMs(sizes.horizonRoundTasks));
        acknowledged += outcome.acknowledged;
        errors += outcome.errors;
        clientCpu += outcome.processCpuSeconds;
        await roundTasks.waitForSucceeded(outcome.acknowledged, drainBoundMs(sizes.horizonRoundTasks));
        const facts = await roundTasks.facts();
        const roundSeconds = (facts.maxFinishedAt - facts.minCreatedAt) / 1000;
        rates.push(facts.succeeded / roundSeconds);
        tasks += facts.succeeded;
        seconds += roundSeconds;
      }
      const { bloat, horizonAge } = await databaseState(deployment.schema, transaction);
      return {
        horizonAge,
        drainRate: round(tasks / seconds, 0), firstRoundDrainRate: round(rates[0] ?? Number.NaN, 0), lastRoundDrainRate: round(rates.at(-1) ?? Number.NaN, 0),
        rounds: rates.length, deadTuples: bloat.deadTuples, tablesMb: bloat.tablesMb, errors, ...integrity(await reader.facts(), acknowledged),
        ...foreign.measure(clientCpu),
      };
    } finally {
      await transaction?.end();
    }
  });
}

/** The schema's dead row versions and size, and how far the held transaction's horizon lags, read from the database itself. */
async function databaseState(schema: BenchSchema, transaction: HeldTransaction | undefined): Promise<{ bloat: { deadTuples: number; tablesMb: number }; horizonAge: number }> {
  const counters = new PostgresCounters(schema);
  try {
    return { bloat: await counters.bloat(), horizonAge: transaction ? await transaction.horizonAge(counters) : 0 };
  } finally {
    await counters.close();
  }
}

/** Per-phase figures kept in the result, prefixed with the phase's name. */
const phaseFigures = ["drainRate", "firstRoundDrainRate", "lastRoundDrainRate", "rounds", "deadTuples", "tablesMb", "horizonAge", "otherCpuPercent", "databaseCpuS"];

/**
 * W1-horizon: the baseline, then the same load with a REPEATABLE READ transaction held open for
 * the whole phase: `xid` has called txid_current() (an analytics job that wrote something),
 * `snapshot` has only read a row. Ratios compare each to the baseline, overall and in the last round
 * (the end of the hold, when the most dead rows have piled up).
 */
export async function runHorizon(sizes: Sizes): Promise<Metrics> {
  const metrics: Metrics = { holdSeconds: sizes.horizonSeconds };
  const sums = { errors: 0, lost: 0, notFirstAttempt: 0, unacknowledged: 0, acknowledged: 0, succeeded: 0, otherCpuPercent: 0 };
  for (const [name, held] of [["baseline", undefined], ["xid", "xid"], ["snapshot", "snapshot"]] as const) {
    const phase = await horizonPhase(held, sizes);
    process.stderr.write(`  W1-horizon ${name}: drain ${phase.drainRate}/s over ${phase.rounds} rounds (last ${phase.lastRoundDrainRate}/s), dead tuples ${phase.deadTuples}\n`);
    for (const figure of phaseFigures) metrics[`${name}${figure[0]?.toUpperCase()}${figure.slice(1)}`] = phase[figure] ?? Number.NaN;
    sums.errors += phase.errors ?? 0;
    sums.lost += phase.lost ?? 0;
    sums.notFirstAttempt += phase.notFirstAttempt ?? 0;
    sums.unacknowledged += phase.unacknowledged ?? 0;
    sums.acknowledged += phase.acknowledged ?? 0;
    sums.succeeded += phase.succeeded ?? 0;
    sums.otherCpuPercent = Math.max(sums.otherCpuPercent, phase.otherCpuPercent ?? 0);
  }
  for (const name of ["xid", "snapshot"]) {
    metrics[`${name}Ratio`] = round((metrics[`${name}DrainRate`] ?? Number.NaN) / (metrics.baselineDrainRate ?? Number.NaN), 3);
    metrics[`${name}EndRatio`] = round((metrics[`${name}LastRoundDrainRate`] ?? Number.NaN) / (metrics.baselineLastRoundDrainRate ?? Number.NaN), 3);
  }
  return { ...metrics, ...sums };
}
