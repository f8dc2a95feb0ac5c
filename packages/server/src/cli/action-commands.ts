import { createInterface } from "node:readline/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import { OrchestratorError, taskStates, type OrchestratorClient, type TaskFilter, type TaskState } from "orchestrator-ts-client";
import { gatewayOption, withClient } from "./client-commands.js";
import { printJson, taskView } from "./format.js";
import { clientSecurityOptions, duration, instant } from "./options.js";

/** The flags that choose the tasks of a bulk action. */
interface FilterFlags {
  name: string[];
  state: TaskState[];
  concurrencyKey?: string;
  schedule?: string;
  since?: number;
  before?: number;
}

interface ActionFlags extends FilterFlags {
  reason?: string;
  yes?: boolean;
  json?: boolean;
}

/** The three actions: what each applies to, and how it reads in messages. */
const actions = {
  retry: { states: ["failed", "cancelled"], which: "failed and cancelled tasks", doing: "Retrying", done: "retried" },
  cancel: { states: ["scheduled", "queued", "running", "retrying"], which: "unfinished tasks (scheduled, queued, running, retrying)", doing: "Cancelling", done: "cancelled" },
  delete: { states: ["succeeded", "failed", "cancelled"], which: "finished tasks (succeeded, failed, cancelled)", doing: "Deleting", done: "deleted" },
} as const satisfies Record<string, { states: readonly TaskState[]; which: string; doing: string; done: string }>;

type Action = keyof typeof actions;

function collect<T>(parse: (value: string) => T) {
  return (value: string, previous: T[]): T[] => [...previous, parse(value)];
}

function state(value: string): TaskState {
  if (!(taskStates as readonly string[]).includes(value)) throw new InvalidArgumentError(`"${value}" is not a task state; the states are ${taskStates.join(", ")}`);
  return value as TaskState;
}

/** A time as --since and --before take it: a duration back from now (7d, 12h) or an ISO 8601 time with a zone. */
function pointInTime(value: string): number {
  if (/^\d+(ms|s|m|h|d)?$/.test(value.trim())) return Date.now() - duration(value);
  return instant(value);
}

function filterOptions(command: Command, action: Action): Command {
  return command
    .option("--name <name>", "only tasks of this name (repeat for several)", collect(String), [])
    .addOption(new Option("--state <state>", `only tasks in this state (repeat for several); one of ${actions[action].states.join(", ")}`).argParser(collect(state)).default([]))
    .option("--concurrency-key <key>", "only tasks with this concurrency key")
    .option("--schedule <id>", "only tasks fired by this schedule (its id)")
    .option("--since <time>", "only tasks created at or after this time: a duration back from now (30m, 1h, 7d) or an ISO 8601 time", pointInTime)
    .option("--before <time>", "only tasks created before this time: a duration back from now (7d: older than a week) or an ISO 8601 time", pointInTime)
    .option("-y, --yes", "do it without asking (needed when stdin is not a terminal)");
}

/** The filter the flags name; null when they name none (a single task's command then). */
function filterOf(flags: FilterFlags): TaskFilter | null {
  const filter: TaskFilter = {
    ...(flags.name.length > 0 ? { names: flags.name } : {}), ...(flags.state.length > 0 ? { states: flags.state } : {}),
    ...(flags.concurrencyKey !== undefined ? { concurrencyKey: flags.concurrencyKey } : {}), ...(flags.schedule !== undefined ? { scheduleId: flags.schedule } : {}),
    ...(flags.since !== undefined ? { createdAfter: flags.since } : {}), ...(flags.before !== undefined ? { createdBefore: flags.before } : {}),
  };
  return Object.keys(filter).length === 0 ? null : filter;
}

/** The filter in words, for the question and the answer. */
function describeFilter(filter: TaskFilter): string {
  const parts = [
    filter.names ? `name ${filter.names.join(" or ")}` : null, filter.states ? `state ${filter.states.join(" or ")}` : null,
    filter.concurrencyKey !== undefined ? `concurrency key ${filter.concurrencyKey}` : null, filter.scheduleId !== undefined ? `schedule ${filter.scheduleId}` : null,
    filter.createdAfter !== undefined ? `created since ${new Date(filter.createdAfter).toISOString()}` : null,
    filter.createdBefore !== undefined ? `created before ${new Date(filter.createdBefore).toISOString()}` : null,
  ];
  return parts.filter((part) => part !== null).join(", ");
}

/**
 * Asks on the terminal whether to go ahead; without one (a script, a pipe) there is no one to ask,
 * so the action is refused unless --yes said so up front.
 */
async function confirmed(question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw OrchestratorError.invalidArgument(`${question.replace(/\?$/, "")}: stdin is not a terminal, so there is no one to ask; pass --yes to go ahead`);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
  }
}

/**
 * A bulk action: counts the tasks it would change (CountTasks, with the action's states), asks,
 * then does it and prints how many it changed. Tasks created after the count may be left out, and
 * tasks changed meanwhile may make the two numbers differ; the answer is what was done.
 */
async function runBulk(client: OrchestratorClient, action: Action, filter: TaskFilter, flags: ActionFlags): Promise<void> {
  const { states, which, doing, done } = actions[action];
  const refused = (filter.states ?? []).filter((asked) => !(states as readonly TaskState[]).includes(asked));
  if (refused.length > 0) throw OrchestratorError.invalidArgument(`${action} applies to ${which} only; --state ${refused.join(", ")} cannot be ${done}`);
  const counted = { ...filter, states: filter.states ?? [...states] };
  const matched = await client.countTasks(counted);
  const described = describeFilter(filter);
  if (matched === 0) {
    if (flags.json) printJson({ action, matched: 0, count: 0 });
    else process.stderr.write(`no ${which} match (${described}): nothing to do\n`);
    return;
  }
  if (!(await confirmed(`${action} ${matched} ${which.split(" (")[0]} (${described})?`, flags.yes))) {
    process.stderr.write("nothing done\n");
    process.exitCode = 1;
    return;
  }
  // One call does the whole action in batches on the Scheduler; say so while it runs.
  if (process.stderr.isTTY && !flags.json) process.stderr.write(`${doing} ${matched} tasks...\n`);
  const reason = flags.reason ?? "";
  const count = action === "retry" ? await client.retryTasks(filter, { reason })
    : action === "cancel" ? await client.cancelTasks(filter, { reason })
      : await client.deleteTasks(filter);
  if (flags.json) printJson({ action, matched, count });
  else process.stdout.write(`${done} ${count} tasks\n`);
}

/** Either a task id or filter flags, not both, and at least one. */
function target(action: Action, taskId: string | undefined, flags: FilterFlags, single: boolean): { taskId: string } | { filter: TaskFilter } {
  const filter = filterOf(flags);
  if (taskId !== undefined && filter !== null) throw OrchestratorError.invalidArgument(`give a task id or filter flags (--name, --state, ...), not both`);
  if (taskId !== undefined) return { taskId };
  if (filter !== null) return { filter };
  const one = single ? `a task id, or ` : "";
  throw OrchestratorError.invalidArgument(`${action} needs ${one}at least one of --name, --state, --concurrency-key, --schedule, --since, --before`);
}

/** retry, cancel and delete: of one task by its id (retry, cancel), or of every task a filter matches. */
export function actionCommands(): Command[] {
  const retry = filterOptions(new Command("retry")
    .description("retry a failed or cancelled task (a new attempt series; its history is kept), or every one the filter flags match")
    .argument("[task-id]", "the task to retry; leave out and give filter flags to retry many"), "retry")
    .option("--reason <text>", "why, recorded with the task and in the Scheduler's log")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (taskId: string | undefined, flags: ActionFlags, command: Command) => {
      const chosen = target("retry", taskId, flags, true);
      await withClient(command, async (client) => {
        if ("filter" in chosen) return runBulk(client, "retry", chosen.filter, flags);
        const task = await client.retry(chosen.taskId, { reason: flags.reason ?? "" });
        if (flags.json) printJson(taskView(task));
        else process.stdout.write(`retried task ${task.taskId}: queued again after attempt ${task.attempt}, with ${task.maxRetries} retries\n`);
      });
    });

  const cancel = filterOptions(new Command("cancel")
    .description("cancel a task, or every unfinished task the filter flags match; a running handler is told through its AbortSignal")
    .argument("[task-id]", "the task to cancel; leave out and give filter flags to cancel many"), "cancel")
    .option("--reason <text>", "why, recorded with the task", "")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (taskId: string | undefined, flags: ActionFlags, command: Command) => {
      const chosen = target("cancel", taskId, flags, true);
      await withClient(command, async (client) => {
        if ("filter" in chosen) return runBulk(client, "cancel", chosen.filter, flags);
        const id = chosen.taskId;
        const outcome = await client.cancel(id, flags.reason ?? "");
        if (flags.json) printJson({ task_id: id, state: outcome.state, cancelled: outcome.cancelled });
        else if (outcome.cancelled) process.stdout.write(`cancelled task ${id}\n`);
        else process.stdout.write(`task ${id} had already ended (${outcome.state}): nothing to cancel\n`);
      });
    });

  const remove = filterOptions(new Command("delete")
    .description("delete every finished task the filter flags match, with its history (e.g. --state succeeded --before 7d)"), "delete")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (flags: ActionFlags, command: Command) => {
      const chosen = target("delete", undefined, flags, false);
      if (!("filter" in chosen)) return;
      await withClient(command, (client) => runBulk(client, "delete", chosen.filter, flags));
    });

  const commands = [retry, cancel, remove];
  for (const command of commands) for (const option of clientSecurityOptions()) command.addOption(option);
  return commands;
}
