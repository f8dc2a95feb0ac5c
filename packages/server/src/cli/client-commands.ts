import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { isTerminal, OrchestratorError, taskStates, type OrchestratorClient, type TaskState, type TaskUpdate } from "orchestrator-ts-client";
import { follow } from "./follow.js";
import { outcomeText, printJson, resultBlock, taskTable, taskText, taskView, updateLine, updateView, workerTable, workerView } from "./format.js";
import { explainGatewayError } from "./gateway-help.js";
import { clientSecurity, clientSecurityOptions, duration, instant, integer, type ClientSecurityFlags } from "./options.js";

export function gatewayOption(): Option {
  return new Option("--gateway <host:port>", "address of the Gateway").env("ORCHESTRATOR_GATEWAY_ADDRESS").default("127.0.0.1:50051");
}

type ClientFlags = { gateway: string } & ClientSecurityFlags;

// The SDK and the progress bar are loaded by the commands that use them, not by every CLI process
// (the service commands share this entry point).
export async function withClient<T>(command: Command, work: (client: OrchestratorClient) => Promise<T>): Promise<T> {
  const flags = command.opts<ClientFlags>();
  const security = clientSecurity(flags);
  const { OrchestratorClient } = await import("orchestrator-ts-client");
  const client = new OrchestratorClient({ address: flags.gateway, ...security });
  try {
    return await work(client);
  } catch (error) {
    throw await explainGatewayError(error, { address: flags.gateway, source: command.getOptionValueSource("gateway"), tls: security.tls !== undefined });
  } finally {
    client.close();
  }
}

/** The file's bytes; a file that cannot be read is the user's argument to fix, said with its path. */
function readPayloadFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? (/^E[A-Z]+: (.+?)(?:, \w+(?: '.*')?)?$/.exec(error.message)?.[1] ?? error.message) : String(error);
    throw OrchestratorError.invalidArgument(`cannot read the payload file ${path} (--payload-file): ${reason}`);
  }
}

function exitCodeFor(update: TaskUpdate): number {
  return update.state === "succeeded" ? 0 : 1;
}

/** The flags taskFieldOptions adds. */
export interface TaskFieldFlags {
  payload?: string;
  payloadFile?: string;
  description: string;
  timeoutSecs?: number;
  maxRetries?: number;
  retryBackoffMs?: number;
  priority?: number;
  /** Set only by commands built with taskFieldOptions(..., { concurrency: true }). */
  concurrencyKey?: string;
  concurrencyLimit?: number;
}

/** The task's fields from its flags, the payload read from --payload or --payload-file (not both). */
export function taskFields(name: string, flags: TaskFieldFlags) {
  if (flags.payload !== undefined && flags.payloadFile !== undefined) throw OrchestratorError.invalidArgument("give --payload or --payload-file, not both");
  if (flags.concurrencyLimit !== undefined && flags.concurrencyKey === undefined) {
    throw OrchestratorError.invalidArgument("--concurrency-limit bounds the tasks of one --concurrency-key: give the key too");
  }
  const payload = flags.payloadFile !== undefined ? readPayloadFile(flags.payloadFile) : Buffer.from(flags.payload ?? "", "utf8");
  return {
    name, payload, description: flags.description, timeoutSecs: flags.timeoutSecs, maxRetries: flags.maxRetries, retryBackoffMs: flags.retryBackoffMs,
    priority: flags.priority, concurrencyKey: flags.concurrencyKey, concurrencyLimit: flags.concurrencyLimit,
  };
}

interface SubmitFlags extends TaskFieldFlags {
  idempotencyKey?: string;
  /** --delay, in ms. */
  delay?: number;
  /** --run-at, in Unix ms. */
  runAt?: number;
  wait?: boolean;
  json?: boolean;
}

/**
 * The fields of a task that submit and schedule create both take: its payload and its limits;
 * with `concurrency`, its concurrency key and bound too (schedules do not keep those yet).
 */
export function taskFieldOptions(command: Command, descriptionHelp: string, { concurrency = false } = {}): Command {
  command
    .option("-p, --payload <text>", "payload as a string")
    .option("-f, --payload-file <path>", "payload read from a file")
    .option("-d, --description <text>", descriptionHelp, "")
    .option("--timeout-secs <n>", "limit of one attempt in seconds (1-86400, default 300)", integer)
    .option("--max-retries <n>", "attempts after the first (0-100, default 3)", integer)
    .option("--retry-backoff-ms <n>", "first retry delay in ms (doubles each retry)", integer)
    .option("--priority <n>", "-100 (least urgent) to 100 (most urgent), default 0: higher starts first among queued tasks of one name", integer);
  if (!concurrency) return command;
  return command
    .option("--concurrency-key <key>", "1-255 bytes, e.g. a customer id: tasks of one name sharing a key run at most the key's bound at once, keys take turns")
    .option("--concurrency-limit <n>", "1-100000: this key's bound, overriding the name's (`orchestrator concurrency set`); needs --concurrency-key", integer);
}

export function clientCommands(): Command[] {
  const submit = taskFieldOptions(new Command("submit")
    .description("submit a task; with --wait, follow it to its end and print its result")
    .argument("<name>", "task name (selects the handler), e.g. data-processing-job"), "description for people", { concurrency: true })
    .option("-k, --idempotency-key <key>", "repeating the submit with this key creates no second task")
    .option("--delay <duration>", "start no earlier than this long from now (e.g. 30s, 15m, 2h, 7d; at most a year); the task is scheduled until then", duration)
    .option("--run-at <time>", "start no earlier than this ISO 8601 time with a zone (e.g. 2026-07-01T09:00:00Z; at most a year ahead)", instant)
    .option("-w, --wait", "follow the task with a progress bar until it ends, then print its result")
    .option("--json", "print machine-readable JSON (with --wait, one JSON object per line)")
    .addOption(gatewayOption())
    .action(async (name: string, options: SubmitFlags, command: Command) => {
      const task = taskFields(name, options);
      if (options.delay !== undefined && options.runAt !== undefined) throw OrchestratorError.invalidArgument("give --delay or --run-at, not both");
      await withClient(command, async (client) => {
        const submitted = await client.submit({ ...task, idempotencyKey: options.idempotencyKey, delayMs: options.delay, runAt: options.runAt });
        const acknowledged = { task_id: submitted.taskId, timestamp: String(submitted.timestamp) };
        if (options.json && options.wait) process.stdout.write(`${JSON.stringify(acknowledged)}\n`);
        else if (options.json) printJson(acknowledged);
        else process.stdout.write(`${submitted.taskId}\n`);
        if (!options.wait) return;
        const terminal = await follow(client, { taskId: submitted.taskId, name }, Boolean(options.json));
        if (!options.json) process.stdout.write(`${outcomeText(terminal)}\n`);
        process.exitCode = exitCodeFor(terminal);
      });
    });

  const watch = new Command("watch")
    .description("stream a task's progress until it ends, then print its result")
    .argument("<task-id>")
    .option("--after <sequence>", "resume after this sequence number", integer, 0)
    .option("--json", "print one JSON object per update")
    .addOption(gatewayOption())
    .action(async (taskId: string, options: { after: number; json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        // The stream would retry an unreachable Gateway for about a minute without a word (it
        // resumes through Gateway restarts); one unary call first fails at once and is explained.
        await client.get(taskId);
        let last: TaskUpdate | undefined;
        for await (const update of client.subscribe(taskId, { afterSequence: options.after })) {
          last = update;
          process.stdout.write(options.json ? `${JSON.stringify(updateView(update))}\n` : `${updateLine(update)}\n`);
        }
        if (!last || !isTerminal(last.state)) return;
        if (!options.json && last.result) process.stdout.write(`${resultBlock(last.result)}\n`);
        process.exitCode = exitCodeFor(last);
      });
    });

  const get = new Command("get")
    .description("show one task: state, attempts, result, error, times")
    .argument("<task-id>")
    .option("--json", "print JSON (the result embedded as JSON when it is JSON)")
    .addOption(gatewayOption())
    .action(async (taskId: string, options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const task = await client.get(taskId);
        if (options.json) printJson(taskView(task));
        else process.stdout.write(`${taskText(task)}\n`);
      });
    });

  const list = new Command("list")
    .description("list tasks, newest first")
    .addOption(new Option("--state <state>", "only tasks in this state").choices([...taskStates]))
    .option("--name <name>", "only tasks with this name")
    .option("--page-size <n>", "tasks per page (1-1000)", integer, 50)
    .option("--page-token <token>", "next_page_token of the previous page")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { state?: TaskState; name?: string; pageSize: number; pageToken?: string; json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const page = await client.list(options);
        if (options.json) {
          printJson({ tasks: page.tasks.map(taskView), next_page_token: page.nextPageToken });
          return;
        }
        // On stderr, so that stdout holds only rows (none here) for scripts.
        if (page.tasks.length === 0) process.stderr.write("no tasks match\n");
        else process.stdout.write(`${taskTable(page.tasks)}\n`);
        if (page.nextPageToken) process.stdout.write(`next page: --page-token ${page.nextPageToken}\n`);
      });
    });

  const workers = new Command("workers")
    .description("list connected workers: id, running/slots, state, task names")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const list = await client.workers();
        if (options.json) printJson(list.map(workerView));
        else if (list.length === 0) process.stderr.write("no workers are connected\n");
        else process.stdout.write(`${workerTable(list)}\n`);
      });
    });

  const commands = [submit, watch, get, list, workers];
  for (const command of commands) for (const option of clientSecurityOptions()) command.addOption(option);
  return commands;
}
