// orchestrator rate-limit set|clear|list: how fast the tasks of a name may start, through the SDK.
import { Command } from "commander";
import type { RateLimitInfo } from "orchestrator-ts-client";
import { gatewayOption, withClient } from "./client-commands.js";
import { printJson, table } from "./format.js";
import { clientSecurityOptions, duration, integer } from "./options.js";

const units: Array<[string, number]> = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]];

/** A window as people write it: "1h", "5m", "90s", or "1500ms" when no larger unit divides it. */
export function windowText(ms: number): string {
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function limitView(limit: RateLimitInfo): Record<string, unknown> {
  return { name: limit.name, max_starts: limit.maxStarts, per_ms: limit.perMs, per_key: limit.perKey, updated_at: limit.updatedAt.toISOString() };
}

const describeLimit = (limit: RateLimitInfo): string =>
  `at most ${limit.maxStarts} start${limit.maxStarts === 1 ? "" : "s"} per ${windowText(limit.perMs)}${limit.perKey ? " per concurrency key" : ""}`;

/** rate-limit set, clear and list: a limit holds the starts of a task name to so many per window, on every Scheduler. */
export function rateLimitCommand(): Command {
  const set = new Command("set")
    .description("limit how fast tasks of a name start, on every Scheduler: at most --max per --per window; tasks over the limit wait, queued")
    .argument("<name>", "task name, e.g. data-processing-job")
    .requiredOption("--max <starts>", "starts per window, 1-1000000", integer)
    .requiredOption("--per <duration>", "the window: 1s to 1d, as 1s, 60s, 5m, 1h or milliseconds", duration)
    .option("--per-key", "give each concurrency key of the name its own window (the unkeyed tasks share one)")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: { max: number; per: number; perKey?: boolean; json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const limit = await client.setRateLimit(name, { maxStarts: options.max, perMs: options.per, perKey: options.perKey ?? false });
        if (options.json) printJson(limitView(limit));
        else process.stdout.write(`rate limit of ${name}: ${describeLimit(limit)}; tasks over it wait, queued\n`);
      });
    });

  const clear = new Command("clear")
    .description("remove a name's rate limit: its tasks start as fast as workers take them")
    .argument("<name>", "task name")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const { cleared, limit } = await client.clearRateLimit(name);
        if (options.json) printJson({ name, cleared, ...(limit ? { max_starts: limit.maxStarts, per_ms: limit.perMs, per_key: limit.perKey } : {}) });
        else if (limit) process.stdout.write(`cleared the rate limit of ${name} (was ${describeLimit(limit)})\n`);
        else process.stdout.write(`${name} had no rate limit: nothing to clear\n`);
      });
    });

  const list = new Command("list")
    .description("list the rate limits: name, starts per window, when set")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const limits = await client.listRateLimits();
        if (options.json) printJson(limits.map(limitView));
        // On stderr, so that stdout holds only rows (none here) for scripts.
        else if (limits.length === 0) process.stderr.write("no rate limits are set\n");
        else {
          const rows = limits.map((limit) => [limit.name, String(limit.maxStarts), windowText(limit.perMs), limit.perKey ? "key" : "name", limit.updatedAt.toISOString()]);
          process.stdout.write(`${table(["NAME", "MAX STARTS", "PER", "WINDOW OF", "UPDATED AT"], rows)}\n`);
        }
      });
    });

  const group = new Command("rate-limit").description("rate limits of task names: set, clear, list");
  for (const command of [set, clear, list]) {
    for (const option of clientSecurityOptions()) command.addOption(option);
    group.addCommand(command);
  }
  return group;
}
