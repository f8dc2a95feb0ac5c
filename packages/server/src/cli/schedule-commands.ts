// orchestrator schedule create|list|get|pause|resume|delete: cron schedules through the SDK.
import { Command, Option } from "commander";
import { type CatchUpPolicy, type OverlapPolicy, type ScheduleClient, type ScheduleInfo } from "orchestrator-ts-client";
import { gatewayOption, taskFieldOptions, taskFields, withClient, type TaskFieldFlags } from "./client-commands.js";
import { printJson, table } from "./format.js";
import { clientSecurityOptions } from "./options.js";

interface CreateFlags extends TaskFieldFlags {
  cron: string;
  tz: string;
  task: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  paused?: boolean;
  json?: boolean;
}

const iso = (date: Date | null): string => (date ? date.toISOString() : "-");

export function scheduleView(schedule: ScheduleInfo): Record<string, unknown> {
  return {
    schedule_id: schedule.scheduleId, key: schedule.key, cron: schedule.cron, time_zone: schedule.timeZone, task: schedule.task.name,
    overlap: schedule.overlap, catch_up: schedule.catchUp, paused: schedule.paused, next_fire_at: schedule.nextFireAt?.toISOString() ?? null,
    last_tick_at: schedule.lastTickAt?.toISOString() ?? null, last_task_id: schedule.lastTaskId,
    created_at: schedule.createdAt.toISOString(), updated_at: schedule.updatedAt.toISOString(),
  };
}

function scheduleText(schedule: ScheduleInfo): string {
  return [
    `schedule  ${schedule.key ?? "-"} (${schedule.scheduleId})`,
    `cron      ${schedule.cron} (${schedule.timeZone})`,
    `task      ${schedule.task.name}`,
    `overlap   ${schedule.overlap}    catch-up ${schedule.catchUp}`,
    `state     ${schedule.paused ? "paused" : "active"}`,
    `next      ${iso(schedule.nextFireAt)}`,
    `last tick ${iso(schedule.lastTickAt)}${schedule.lastTaskId ? ` (task ${schedule.lastTaskId})` : ""}`,
  ].join("\n");
}

function scheduleTable(schedules: ScheduleInfo[]): string {
  return table(["KEY", "SCHEDULE ID", "CRON", "TIME ZONE", "TASK", "STATE", "NEXT"], schedules.map((s) => [
    s.key ?? "-", s.scheduleId, s.cron, s.timeZone, s.task.name, s.paused ? "paused" : "active", iso(s.nextFireAt),
  ]));
}

function printSchedule(schedule: ScheduleInfo, json: boolean | undefined): void {
  if (json) printJson(scheduleView(schedule));
  else process.stdout.write(`${scheduleText(schedule)}\n`);
}

export function scheduleCommand(): Command {
  const create = taskFieldOptions(new Command("create")
    .description("create a cron schedule named NAME (its key: creating it again with the same fields changes nothing)")
    .argument("<name>", "the schedule's key, e.g. nightly-report")
    .requiredOption("--cron <expression>", "5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, e.g. \"*/5 * * * *\"")
    .option("--tz <zone>", "IANA time zone the cron is read in", "UTC")
    .requiredOption("--task <name>", "the task name each tick submits, e.g. data-processing-job"), "description of each task")
    .addOption(new Option("--overlap <policy>", "allow: fire every tick; skip: no task while the previous tick's task is unfinished").choices(["allow", "skip"]).default("allow"))
    .addOption(new Option("--catch-up <policy>", "ticks missed while no Scheduler ran: skip fires none, one: the latest, all: each (at most 100)").choices(["skip", "one", "all"]).default("one"))
    .option("--paused", "create it paused")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: CreateFlags, command: Command) => {
      const task = taskFields(options.task, options);
      await withClient(command, async (client) => {
        const schedule = await client.schedules.create({
          key: name, cron: options.cron, timeZone: options.tz, overlap: options.overlap, catchUp: options.catchUp, paused: Boolean(options.paused), task,
        });
        if (options.json) printJson({ ...scheduleView(schedule), created: schedule.created });
        else process.stdout.write(`${schedule.created ? "created" : "exists, unchanged"}: ${schedule.key ?? schedule.scheduleId}, next tick ${iso(schedule.nextFireAt)}\n`);
      });
    });

  const list = new Command("list")
    .description("list schedules, oldest first")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const schedules = await client.schedules.list();
        if (options.json) printJson(schedules.map(scheduleView));
        else if (schedules.length === 0) process.stderr.write("no schedules\n");
        else process.stdout.write(`${scheduleTable(schedules)}\n`);
      });
    });

  const one = (verb: string, description: string, act: (schedules: ScheduleClient, schedule: string) => Promise<ScheduleInfo | undefined>): Command =>
    new Command(verb)
      .description(description)
      .argument("<schedule>", "the schedule's key or id")
      .option("--json", "print JSON")
      .addOption(gatewayOption())
      .action(async (schedule: string, options: { json?: boolean }, command: Command) => {
        await withClient(command, async (client) => {
          const answer = await act(client.schedules, schedule);
          if (answer) printSchedule(answer, options.json);
          else if (options.json) printJson({ deleted: schedule });
          else process.stdout.write(`deleted schedule ${schedule}\n`);
        });
      });

  const commands = [
    create, list,
    one("get", "show one schedule", (schedules, schedule) => schedules.get(schedule)),
    one("pause", "pause a schedule: nothing fires until it is resumed", (schedules, schedule) => schedules.pause(schedule)),
    one("resume", "resume a schedule at its next tick", (schedules, schedule) => schedules.resume(schedule)),
    one("delete", "delete a schedule (tasks it fired stay)", async (schedules, schedule) => {
      await schedules.delete(schedule);
      return undefined;
    }),
  ];
  const group = new Command("schedule").description("cron schedules: create, list, get, pause, resume, delete");
  for (const command of commands) {
    for (const option of clientSecurityOptions()) command.addOption(option);
    group.addCommand(command);
  }
  return group;
}
