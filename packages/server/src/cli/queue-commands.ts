import { Command } from "commander";
import type { PausedQueueInfo } from "orchestrator-ts-client";
import { gatewayOption, withClient } from "./client-commands.js";
import { printJson, table } from "./format.js";
import { clientSecurityOptions } from "./options.js";

function pausedView(queue: PausedQueueInfo): Record<string, unknown> {
  return { name: queue.name, reason: queue.reason, paused_at: queue.pausedAt.toISOString() };
}

/** pause, resume and paused: a queue is a task name; paused, its tasks are accepted but none starts. */
export function queueCommands(): Command[] {
  const pause = new Command("pause")
    .description("pause a queue (task name) on every Scheduler: submits are still accepted, none of its tasks starts, running ones finish")
    .argument("<name>", "task name, e.g. data-processing-job")
    .option("--reason <text>", "why, shown by `orchestrator paused`", "")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: { reason: string; json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const { queue, wasPaused } = await client.pauseQueue(name, { reason: options.reason });
        if (options.json) printJson({ ...pausedView(queue), was_paused: wasPaused });
        else if (wasPaused) process.stdout.write(`queue ${name} was already paused (since ${queue.pausedAt.toISOString()}); nothing changed\n`);
        else process.stdout.write(`paused queue ${name}: its tasks wait until \`orchestrator resume ${name}\`\n`);
      });
    });

  const resume = new Command("resume")
    .description("resume a paused queue (task name): its waiting tasks start again")
    .argument("<name>", "task name")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const { wasPaused, queue } = await client.resumeQueue(name);
        if (options.json) printJson({ name, was_paused: wasPaused, ...(queue ? { paused_at: queue.pausedAt.toISOString() } : {}) });
        else if (wasPaused) process.stdout.write(`resumed queue ${name} (paused since ${queue?.pausedAt.toISOString() ?? "?"})\n`);
        else process.stdout.write(`queue ${name} was not paused: nothing to resume\n`);
      });
    });

  const paused = new Command("paused")
    .description("list the paused queues: name, since when, why")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const queues = await client.listPausedQueues();
        if (options.json) printJson(queues.map(pausedView));
        // On stderr, so that stdout holds only rows (none here) for scripts.
        else if (queues.length === 0) process.stderr.write("no queues are paused\n");
        else process.stdout.write(`${table(["NAME", "PAUSED AT", "REASON"], queues.map((queue) => [queue.name, queue.pausedAt.toISOString(), queue.reason]))}\n`);
      });
    });

  const commands = [pause, resume, paused];
  for (const command of commands) for (const option of clientSecurityOptions()) command.addOption(option);
  return commands;
}
