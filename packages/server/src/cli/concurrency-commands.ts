// orchestrator concurrency set|clear|list: a task name's bound on the running tasks of each concurrency key.
import { Command } from "commander";
import type { ConcurrencyLimitInfo } from "orchestrator-ts-client";
import { gatewayOption, withClient } from "./client-commands.js";
import { printJson, table } from "./format.js";
import { clientSecurityOptions, integer } from "./options.js";

function limitView(limit: ConcurrencyLimitInfo): Record<string, unknown> {
  return { name: limit.name, max_running: limit.maxRunning, updated_at: limit.updatedAt.toISOString() };
}

export function concurrencyCommand(): Command {
  const set = new Command("set")
    .description("bound the running tasks of each concurrency key of a task name (tasks submitted with --concurrency-limit keep theirs)")
    .argument("<name>", "task name, e.g. data-processing-job")
    .argument("<max>", "1-100000 tasks of one key running at once", integer)
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, max: number, options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const limit = await client.setConcurrencyLimit(name, max);
        if (options.json) printJson(limitView(limit));
        else process.stdout.write(`${name}: at most ${limit.maxRunning} running at once per concurrency key\n`);
      });
    });

  const clear = new Command("clear")
    .description("remove a task name's bound: its concurrency keys are then unbounded (still served in turn)")
    .argument("<name>", "task name")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const { cleared, limit } = await client.clearConcurrencyLimit(name);
        if (options.json) printJson({ name, cleared, ...(limit ? { max_running: limit.maxRunning } : {}) });
        else if (limit) process.stdout.write(`cleared the bound of ${name} (was ${limit.maxRunning} per key)\n`);
        else process.stdout.write(`${name} had no concurrency limit: nothing to clear\n`);
      });
    });

  const list = new Command("list")
    .description("list the task names' concurrency limits: name, max running per key, when set")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const limits = await client.listConcurrencyLimits();
        if (options.json) printJson(limits.map(limitView));
        // On stderr, so that stdout holds only rows (none here) for scripts.
        else if (limits.length === 0) process.stderr.write("no concurrency limits are set\n");
        else process.stdout.write(`${table(["NAME", "MAX RUNNING", "UPDATED AT"], limits.map((limit) => [limit.name, String(limit.maxRunning), limit.updatedAt.toISOString()]))}\n`);
      });
    });

  const group = new Command("concurrency").description("per-name bounds on the running tasks of each concurrency key: set, clear, list");
  for (const command of [set, clear, list]) {
    for (const option of clientSecurityOptions()) command.addOption(option);
    group.addCommand(command);
  }
  return group;
}
