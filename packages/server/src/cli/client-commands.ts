import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { isTerminal, OrchestratorError, taskStates, type OrchestratorClient, type TaskState, type TaskUpdate } from "orchestrator-ts-client";
import { printJson, taskRow, taskView, updateLine, updateView, workerRow, workerView } from "./format.js";
import { clientSecurity, clientSecurityOptions, integer, type ClientSecurityFlags } from "./options.js";

function gatewayOption(): Option {
  return new Option("--gateway <host:port>", "address of the Gateway").env("ORCHESTRATOR_GATEWAY_ADDRESS").default("127.0.0.1:50051");
}

// The SDK and the progress bar are loaded by the commands that use them, not by every CLI process
// (the service commands share this entry point).
async function withClient<T>(options: { gateway: string } & ClientSecurityFlags, work: (client: OrchestratorClient) => Promise<T>): Promise<T> {
  const { OrchestratorClient } = await import("orchestrator-ts-client");
  const client = new OrchestratorClient({ address: options.gateway, ...clientSecurity(options) });
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** Follows a task to its end; a progress bar on a terminal, one line per update otherwise. */
async function follow(client: OrchestratorClient, taskId: string, json: boolean): Promise<TaskUpdate> {
  const interactive = Boolean(process.stderr.isTTY) && !json;
  const cliProgress = interactive ? (await import("cli-progress")).default : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar({ format: "{bar} {percentage}% | {state} | attempt {attempt} | {message}", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(100, 0, { state: "queued", attempt: 0, message: "" });
  try {
    return await client.waitForResult(taskId, {
      onUpdate: (update) => {
        if (bar) bar.update(update.percent, { state: update.state, attempt: update.attempt, message: update.message });
        else if (json) process.stdout.write(`${JSON.stringify(updateView(update))}\n`);
        else process.stderr.write(`${updateLine(update)}\n`);
      },
    });
  } finally {
    bar?.stop();
  }
}

function exitCodeFor(update: TaskUpdate): number {
  return update.state === "succeeded" ? 0 : 1;
}

export function clientCommands(): Command[] {
  const submit = new Command("submit")
    .description("submit a task; with --wait, follow it to its end")
    .argument("<name>", "task name (selects the handler), e.g. data-processing-job")
    .option("-p, --payload <text>", "payload as a string")
    .option("-f, --payload-file <path>", "payload read from a file")
    .option("-d, --description <text>", "description for people", "")
    .option("--timeout-secs <n>", "limit of one attempt in seconds (1-86400, default 300)", integer)
    .option("--max-retries <n>", "attempts after the first (0-100, default 3)", integer)
    .option("--retry-backoff-ms <n>", "first retry delay in ms (doubles each retry)", integer)
    .option("-k, --idempotency-key <key>", "repeating the submit with this key creates no second task")
    .option("-w, --wait", "follow the task with a progress bar until it ends")
    .option("--json", "print machine-readable JSON")
    .addOption(gatewayOption())
    .action(async (name: string, options: { payload?: string; payloadFile?: string; description: string; timeoutSecs?: number; maxRetries?: number; retryBackoffMs?: number; idempotencyKey?: string; wait?: boolean; json?: boolean; gateway: string }) => {
      if (options.payload !== undefined && options.payloadFile !== undefined) throw OrchestratorError.invalidArgument("give --payload or --payload-file, not both");
      const payload = options.payloadFile !== undefined ? readFileSync(options.payloadFile) : Buffer.from(options.payload ?? "", "utf8");
      await withClient(options, async (client) => {
        const submitted = await client.submit({ name, payload, description: options.description, timeoutSecs: options.timeoutSecs, maxRetries: options.maxRetries, retryBackoffMs: options.retryBackoffMs, idempotencyKey: options.idempotencyKey });
        if (options.json) printJson({ task_id: submitted.taskId, timestamp: String(submitted.timestamp) });
        else process.stdout.write(`${submitted.taskId}\n`);
        if (!options.wait) return;
        const terminal = await follow(client, submitted.taskId, Boolean(options.json));
        if (!options.json) printJson(updateView(terminal));
        process.exitCode = exitCodeFor(terminal);
      });
    });

  const watch = new Command("watch")
    .description("stream a task's progress until it ends")
    .argument("<task-id>")
    .option("--after <sequence>", "resume after this sequence number", integer, 0)
    .option("--json", "print one JSON object per update")
    .addOption(gatewayOption())
    .action(async (taskId: string, options: { after: number; json?: boolean; gateway: string }) => {
      await withClient(options, async (client) => {
        let last: TaskUpdate | undefined;
        for await (const update of client.subscribe(taskId, { afterSequence: options.after })) {
          last = update;
          process.stdout.write(options.json ? `${JSON.stringify(updateView(update))}\n` : `${updateLine(update)}\n`);
        }
        if (last && isTerminal(last.state)) process.exitCode = exitCodeFor(last);
      });
    });

  const get = new Command("get")
    .description("show one task: state, attempts, result, error, times")
    .argument("<task-id>")
    .addOption(gatewayOption())
    .action(async (taskId: string, options: { gateway: string }) => {
      await withClient(options, async (client) => printJson(taskView(await client.get(taskId))));
    });

  const list = new Command("list")
    .description("list tasks, newest first")
    .addOption(new Option("--state <state>", "only tasks in this state").choices([...taskStates]))
    .option("--name <name>", "only tasks with this name")
    .option("--page-size <n>", "tasks per page (1-1000)", integer, 50)
    .option("--page-token <token>", "next_page_token of the previous page")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { state?: TaskState; name?: string; pageSize: number; pageToken?: string; json?: boolean; gateway: string }) => {
      await withClient(options, async (client) => {
        const page = await client.list(options);
        if (options.json) {
          printJson({ tasks: page.tasks.map(taskView), next_page_token: page.nextPageToken });
          return;
        }
        for (const task of page.tasks) process.stdout.write(`${taskRow(task)}\n`);
        if (page.nextPageToken) process.stdout.write(`next page: --page-token ${page.nextPageToken}\n`);
      });
    });

  const cancel = new Command("cancel")
    .description("cancel a task; a running handler is told through its AbortSignal")
    .argument("<task-id>")
    .option("--reason <text>", "why, recorded with the task", "")
    .addOption(gatewayOption())
    .action(async (taskId: string, options: { reason: string; gateway: string }) => {
      await withClient(options, async (client) => {
        const outcome = await client.cancel(taskId, options.reason);
        printJson({ task_id: taskId, state: outcome.state, cancelled: outcome.cancelled });
      });
    });

  const workers = new Command("workers")
    .description("list connected workers: id, running/slots, state, task names")
    .option("--json", "print JSON")
    .addOption(gatewayOption())
    .action(async (options: { json?: boolean; gateway: string }) => {
      await withClient(options, async (client) => {
        const list = await client.workers();
        if (options.json) printJson(list.map(workerView));
        else for (const worker of list) process.stdout.write(`${workerRow(worker)}\n`);
      });
    });

  const commands = [submit, watch, get, list, cancel, workers];
  for (const command of commands) for (const option of clientSecurityOptions()) command.addOption(option);
  return commands;
}
