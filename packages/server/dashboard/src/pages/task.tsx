// One task: its fields, payload and result (a preview, and a download of all the bytes), its
// attempts, and its timeline from its whole recorded history on, live until it ends.
import { useEffect, useState } from "preact/hooks";
import { download, getJson, postJson, terminalStates, type BytesPreview, type Progress, type Task } from "../api";
import { ErrorNote, formatBytes, formatTime, LiveIndicator, StateBadge, useLive } from "../ui";

function Bytes({ title, preview, path, filename }: { title: string; preview: BytesPreview | null | undefined; path: string; filename: string }) {
  const [error, setError] = useState<string | null>(null);
  if (!preview) return <section><h2>{title}</h2><p>None.</p></section>;
  return (
    <section aria-label={title}>
      <h2>{title} <span class="muted">({formatBytes(preview.size)}{preview.text === null ? ", binary" : ""})</span></h2>
      <pre class="bytes">{preview.text ?? preview.base64}</pre>
      {preview.truncated ? <p class="muted">The first {formatBytes(preview.text === null ? (preview.base64?.length ?? 0) * 3 / 4 : new TextEncoder().encode(preview.text).length)} are shown.</p> : null}
      <button type="button" onClick={() => download(path, filename).catch((failure: unknown) => setError(String(failure)))}>Download {title.toLowerCase()}</button>
      <ErrorNote error={error} />
    </section>
  );
}

interface Attempt {
  attempt: number;
  startedAtMs: number | null;
  endedAtMs: number | null;
  outcome: string;
  workerId: string | null;
  error: string | null;
}

/** The attempts, as the timeline tells them: each attempt's first and last update. */
function attemptsOf(timeline: Progress[]): Attempt[] {
  const attempts = new Map<number, Attempt>();
  for (const update of timeline) {
    if (update.attempt === 0) continue;
    const entry = attempts.get(update.attempt) ?? { attempt: update.attempt, startedAtMs: null, endedAtMs: null, outcome: "running", workerId: null, error: null };
    if (update.state === "running" && entry.startedAtMs === null) entry.startedAtMs = update.timestampMs;
    if (update.state !== "running") {
      entry.outcome = update.state === "retrying" ? "failed, retrying" : update.state;
      entry.endedAtMs = update.timestampMs;
    }
    entry.workerId = update.workerId ?? entry.workerId;
    entry.error = update.error ?? entry.error;
    attempts.set(update.attempt, entry);
  }
  return [...attempts.values()];
}

export function TaskPage({ taskId }: { taskId: string }) {
  const [task, setTask] = useState<Task | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [timeline, setTimeline] = useState<Progress[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const path = `/api/tasks/${encodeURIComponent(taskId)}`;

  useEffect(() => {
    getJson<Task>(path).then((loaded) => { setTask(loaded); setError(null); }, (failure: unknown) => setError(failure instanceof Error ? failure.message : String(failure)));
  }, [path, reloads]);
  useEffect(() => setTimeline([]), [path]);

  // The stream starts at sequence 0, so it brings the whole history; a retried task's stream is opened again.
  const live = useLive(`${path}/events?v=${reloads}`, (event, data) => {
    if (event !== "progress") return;
    const update = data as Progress;
    setTimeline((current) => (current.some((entry) => entry.sequence === update.sequence) ? current : [...current, update]));
    setTask((current) => (current === null ? current : { ...current, state: update.state, attempt: update.attempt, percent: update.percent, message: update.message, error: update.error ?? current.error }));
    // The result and finish time come with the task: read it again once it ends.
    if (terminalStates.has(update.state)) getJson<Task>(path).then(setTask, () => undefined);
  });

  const act = async (action: "cancel" | "retry"): Promise<void> => {
    try {
      await postJson(`${path}/${action}`);
      setNotice(action === "cancel" ? "Cancelled." : "Retried: the task is queued again.");
      if (action === "retry") setReloads((count) => count + 1);
    } catch (failure) {
      setNotice(failure instanceof Error ? `Could not ${action}: ${failure.message}` : String(failure));
    }
  };

  return (
    <section aria-labelledby="task-title">
      <p><a href="#/tasks">← Tasks</a></p>
      <div class="title-row">
        <h1 id="task-title">Task <span class="mono">{taskId}</span></h1>
        <LiveIndicator live={live.live || (task !== null && terminalStates.has(task.state))} reason={live.reason} />
      </div>
      <ErrorNote error={error} />
      {task !== null ? (
        <>
          <div class="actions-row">
            <span>State: <StateBadge state={task.state} /></span>
            {!terminalStates.has(task.state) ? <button type="button" onClick={() => void act("cancel")}>Cancel task</button> : null}
            {task.state === "failed" || task.state === "cancelled" ? <button type="button" onClick={() => void act("retry")}>Retry task</button> : null}
          </div>
          <p role="status" class="notice">{notice ?? ""}</p>
          <dl class="fields">
            <dt>Name</dt><dd>{task.name}</dd>
            {task.description ? <><dt>Description</dt><dd>{task.description}</dd></> : null}
            <dt>Attempt</dt><dd>{task.attempt} (retries allowed: {task.maxRetries})</dd>
            <dt>Progress</dt><dd>{Math.round(task.percent)}% {task.message}</dd>
            <dt>Created</dt><dd>{formatTime(task.createdAtMs)}</dd>
            <dt>Started</dt><dd>{formatTime(task.startedAtMs)}</dd>
            <dt>Finished</dt><dd>{formatTime(task.finishedAtMs)}</dd>
            {task.nextAttemptAtMs ? <><dt>Next attempt</dt><dd>{formatTime(task.nextAttemptAtMs)}</dd></> : null}
            <dt>Priority</dt><dd>{task.priority}</dd>
            {task.concurrencyKey !== null ? <><dt>Key</dt><dd>{task.concurrencyKey}</dd></> : null}
            {task.scheduleId !== null ? <><dt>Schedule</dt><dd class="mono">{task.scheduleId}</dd></> : null}
            <dt>Worker</dt><dd class="mono">{task.workerId ?? "—"}</dd>
            {task.error ? <><dt>Error</dt><dd class="error-text">{task.error}</dd></> : null}
          </dl>
          <div class="two-columns">
            <Bytes title="Payload" preview={task.payload} path={`${path}/payload`} filename={`${taskId}-payload.bin`} />
            <Bytes title="Result" preview={task.result} path={`${path}/result`} filename={`${taskId}-result.bin`} />
          </div>
        </>
      ) : null}
      <h2>Attempts</h2>
      <div class="table-wrap">
        <table aria-label="Attempts">
          <thead><tr><th scope="col" class="num">Attempt</th><th scope="col">Started</th><th scope="col">Ended</th><th scope="col">Outcome</th><th scope="col">Worker</th><th scope="col">Error</th></tr></thead>
          <tbody>
            {attemptsOf(timeline).map((attempt) => (
              <tr key={attempt.attempt}>
                <td class="num">{attempt.attempt}</td><td>{formatTime(attempt.startedAtMs)}</td><td>{formatTime(attempt.endedAtMs)}</td>
                <td>{attempt.outcome}</td><td class="mono">{attempt.workerId ?? "—"}</td><td class="error-text">{attempt.error ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Timeline</h2>
      <ol class="timeline" aria-label="Timeline">
        {timeline.map((update) => (
          <li key={update.sequence} data-state={update.state}>
            <span class="muted">#{update.sequence} {formatTime(update.timestampMs)}</span> <StateBadge state={update.state} />
            {update.attempt > 0 ? ` attempt ${update.attempt}` : ""}
            {update.state === "running" && (update.percent > 0 || update.message) ? ` ${Math.round(update.percent)}% ${update.message}` : ""}
            {update.error ? <span class="error-text"> {update.error}</span> : null}
          </li>
        ))}
      </ol>
    </section>
  );
}
