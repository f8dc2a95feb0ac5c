#!/usr/bin/env node
// The store alone, in this process, on one SQLite driver: the Scheduler's hot writes for N tasks
// (enqueue, claim, complete, in rounds of 200 writes per group commit, synchronous=FULL on a file in
// the temp dir), no gRPC. It compares drivers on one Node without the noise of the full bench.
// Needs `npm run build`. Usage: node scripts/bench-sqlite-drivers.mjs [node:sqlite|better-sqlite3] [N]
import { mkdtempSync, rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { TextEncoder } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../dist/store/sqlite/sqlite-store.js";
import { defaultSqliteDriver } from "../dist/store/sqlite/driver.js";

const driver = process.argv[2] || defaultSqliteDriver();
const total = Number(process.argv[3] ?? 20_000);
const round = 200;
const terms = { leaseMs: 60_000, deadlineGraceMs: 5_000 };
const directory = mkdtempSync(join(tmpdir(), "orchestrator-driver-bench-"));
const store = new SqliteStore({ path: join(directory, "orchestrator.db"), driver });
await store.migrate();
const payload = new TextEncoder().encode('{"n":1}');
const result = new TextEncoder().encode('"ok"');

/** Runs `phase` and returns tasks per second of wall time and CPU microseconds per task. */
async function measure(phase) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await phase();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: Math.round(total / seconds), cpuMicrosPerTask: Number(((used.user + used.system) / total).toFixed(1)) };
}

let now = Date.now();
const figures = { node: process.versions.node, driver: store.driver, sqlite: undefined, tasks: total };
figures.enqueue = await measure(async () => {
  for (let first = 0; first < total; first += round) {
    const writes = [];
    for (let i = first; i < first + round; i++) {
      writes.push(store.enqueue([{ id: `t${i}`, name: "noop", description: "", payload, timeoutMs: 60_000, maxRetries: 0, retryBackoffMs: 1000 }], now));
    }
    await Promise.all(writes);
  }
});
const claimed = [];
figures.claim = await measure(async () => {
  while (claimed.length < total) {
    const [attempts] = await store.claim([{ workerId: "w1", names: ["noop"], limit: round }], ++now, terms);
    claimed.push(...attempts);
  }
});
figures.complete = await measure(async () => {
  for (let first = 0; first < total; first += round) {
    await Promise.all(claimed.slice(first, first + round).map((attempt) => store.complete(attempt, result, ++now)));
  }
});
figures.read = await measure(async () => {
  for (let i = 0; i < total; i++) await store.getTask(`t${i}`);
});
await store.close();
rmSync(directory, { recursive: true, force: true });
console.log(JSON.stringify(figures));
