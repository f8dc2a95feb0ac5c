import type { OrchestratorClient, TaskState, TaskUpdate } from "orchestrator-ts-client";
import { updateLine, updateView } from "./format.js";

/**
 * After this long in "queued", `submit --wait` asks which names the connected workers serve: a
 * task nobody serves waits forever, and without a word the user cannot tell that from a slow start.
 */
export const queuedNoticeMs = 3000;

/** Says on stderr, once, that no connected worker serves `name`; silent when one does. */
async function noticeIfNobodyServes(client: OrchestratorClient, taskId: string, name: string, barShown: boolean): Promise<void> {
  const workers = await client.workers();
  if (workers.some((worker) => worker.taskNames.includes(name))) return;
  const served = [...new Set(workers.flatMap((worker) => worker.taskNames))].sort();
  const who = workers.length === 0 ? "no worker is connected" : `no connected worker serves "${name}" (connected workers serve: ${served.join(", ")})`;
  process.stderr.write(
    `${barShown ? "\n" : ""}task ${taskId} is still queued: ${who}. Still waiting; start a worker that serves it, ` +
      `e.g. "orchestrator worker --handlers ./my-handlers.js" (Ctrl+C stops waiting; the task stays queued).\n`,
  );
}

/** Follows a task to its end; a progress bar on a terminal, one line per update otherwise. */
export async function follow(client: OrchestratorClient, task: { taskId: string; name: string }, json: boolean): Promise<TaskUpdate> {
  const interactive = Boolean(process.stderr.isTTY) && !json;
  const cliProgress = interactive ? (await import("cli-progress")).default : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar({ format: "{bar} {percentage}% | {state} | attempt {attempt} | {message}", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(100, 0, { state: "queued", attempt: 0, message: "" });
  let state: TaskState = "queued";
  const notice = setTimeout(() => {
    // Best effort: a failed ListWorkers only costs the notice, the wait goes on.
    if (state === "queued") void noticeIfNobodyServes(client, task.taskId, task.name, bar !== null).catch(() => undefined);
  }, queuedNoticeMs);
  try {
    return await client.waitForResult(task.taskId, {
      onUpdate: (update) => {
        state = update.state;
        if (bar) bar.update(update.percent, { state: update.state, attempt: update.attempt, message: update.message });
        else if (json) process.stdout.write(`${JSON.stringify(updateView(update))}\n`);
        else process.stderr.write(`${updateLine(update)}\n`);
      },
    });
  } finally {
    clearTimeout(notice);
    bar?.stop();
  }
}
