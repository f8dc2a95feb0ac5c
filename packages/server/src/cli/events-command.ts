import { Command, InvalidArgumentError, Option } from "commander";
import { taskStates, type TaskEvent, type TaskState } from "orchestrator-ts-client";
import { gatewayOption, withClient } from "./client-commands.js";
import { clientSecurityOptions } from "./options.js";

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Collects repeated --state values; a parser of its own replaces the one .choices() installs, so it checks them too. */
function collectState(value: string, previous: TaskState[] = []): TaskState[] {
  if (!(taskStates as readonly string[]).includes(value)) throw new InvalidArgumentError(`Allowed choices are ${taskStates.join(", ")}.`);
  return [...previous, value as TaskState];
}

export function eventView(event: TaskEvent): Record<string, unknown> {
  return {
    task_id: event.taskId, name: event.name, sequence: event.sequence, state: event.state, attempt: event.attempt, percent: event.percent,
    message: event.message || undefined, timestamp: event.timestamp.toISOString(), worker_id: event.workerId ?? undefined,
    error: event.error ?? undefined, next_attempt_at: event.nextAttemptAt?.toISOString(), cursor: event.cursor,
  };
}

export function eventLine(event: TaskEvent): string {
  const parts = [event.timestamp.toISOString(), event.name, event.taskId, `#${event.sequence}`, event.state.padEnd(9), `attempt=${event.attempt}`];
  if (event.state === "running" && event.percent > 0) parts.push(`${event.percent.toFixed(0)}%`);
  if (event.message) parts.push(event.message);
  if (event.error) parts.push(`error="${event.error}"`);
  return parts.join(" ");
}

interface EventsFlags {
  name?: string[];
  state?: TaskState[];
  key?: string;
  schedule?: string;
  after?: string;
  fromStart?: boolean;
  json?: boolean;
}

/** `orchestrator events`: every task's events (WatchTasks), one line each, until interrupted. */
export function eventsCommand(): Command {
  const command = new Command("events")
    .description("stream every task's events (or those the filters keep) as they are recorded, until interrupted; JSON lines when not on a terminal")
    .option("--name <name>", "only tasks with this name (repeat for several)", collect)
    .addOption(new Option("--state <state>", "only events that recorded this state (repeat for several)").choices([...taskStates]).argParser(collectState))
    .option("--key <key>", "only tasks with this concurrency key")
    .option("--schedule <id>", "only tasks fired by this schedule")
    .option("--after <cursor>", "resume right after the event with this cursor (each JSON line carries one)")
    .option("--from-start", "start from the oldest event still retained instead of now")
    .option("--json", "print one JSON object per event (the default when stdout is not a terminal)")
    .addOption(gatewayOption())
    .action(async (options: EventsFlags, cmd: Command) => {
      const json = options.json === true || !process.stdout.isTTY;
      await withClient(cmd, async (client) => {
        const abort = new AbortController();
        const stop = (): void => abort.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        const stream = client.events({
          names: options.name, states: options.state, concurrencyKey: options.key, scheduleId: options.schedule,
          after: options.after, fromStart: options.fromStart, signal: abort.signal,
        });
        try {
          await stream.ready;
          // On stderr, so that stdout holds only events; a script may wait for this line before acting.
          process.stderr.write(`watching events${stream.cursor ? ` after ${stream.cursor}` : ""} (Ctrl+C stops)\n`);
          for await (const event of stream) process.stdout.write(json ? `${JSON.stringify(eventView(event))}\n` : `${eventLine(event)}\n`);
        } catch (error) {
          if (!abort.signal.aborted) throw error;
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          stream.close();
        }
      });
    });
  for (const option of clientSecurityOptions()) command.addOption(option);
  return command;
}
