// The tasks that match a filter (kept in the URL), a page at a time from the server (page tokens:
// nothing loads more than one page, however many tasks the store holds), updated live, with
// cancel and retry per task and for all that match.
import { useEffect, useReducer, useState } from "preact/hooks";
import {
  ApiError, filterQuery, getJson, postJson, taskStates, terminalStates, type Filter, type Task, type TaskEvent, type TaskState,
} from "../api";
import { ConfirmDialog, ErrorNote, formatTime, LiveIndicator, StateBadge, useLive } from "../ui";

const pageSize = 50;

function filterOf(params: URLSearchParams): Filter {
  return { name: params.get("name") ?? "", state: params.get("state") ?? "", key: params.get("key") ?? "", after: params.get("after") ?? "", before: params.get("before") ?? "" };
}

/** A datetime-local value to an ISO time (the API reads both); "" stays "". */
function isoOf(local: string): string {
  return local === "" ? "" : new Date(local).toISOString();
}

function FilterForm({ filter }: { filter: Filter }) {
  const [draft, setDraft] = useState(filter);
  useEffect(() => setDraft(filter), [filter.name, filter.state, filter.key, filter.after, filter.before]);
  const field = (name: keyof Filter) => ({ value: draft[name], onInput: (event: Event) => setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value }) });
  const apply = (event: Event): void => {
    event.preventDefault();
    window.location.hash = `#/tasks${filterQuery(draft)}`;
  };
  return (
    <form class="filter" onSubmit={apply} aria-label="Filter tasks">
      <label>Name <input name="name" placeholder="any (a,b for several)" {...field("name")} /></label>
      <label>
        State
        <select name="state" {...field("state")}>
          <option value="">any</option>
          {taskStates.map((state) => <option value={state}>{state}</option>)}
        </select>
      </label>
      <label>Key <input name="key" placeholder="concurrency key" {...field("key")} /></label>
      <label>Created after <input name="after" type="datetime-local" value={toLocal(draft.after)} onInput={(event) => setDraft({ ...draft, after: isoOf(event.currentTarget.value) })} /></label>
      <label>Created before <input name="before" type="datetime-local" value={toLocal(draft.before)} onInput={(event) => setDraft({ ...draft, before: isoOf(event.currentTarget.value) })} /></label>
      <div class="buttons">
        <button type="submit">Apply filter</button>
        <button type="button" onClick={() => { window.location.hash = "#/tasks"; }}>Clear</button>
      </div>
    </form>
  );
}

/** An ISO time (or Unix ms) to the datetime-local input's format, in local time. */
function toLocal(value: string): string {
  if (value === "") return "";
  const date = new Date(/^\d+$/.test(value) ? Number(value) : value);
  if (Number.isNaN(date.getTime())) return "";
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/**
 * The bulk action's filter: only the states it can act on (the Scheduler refuses others), so the
 * count shown is what it will change. Null when the filter's states leave none (nothing to do).
 */
function bulkFilter(filter: Filter, action: "retry" | "cancel"): Filter | null {
  const actionable: readonly TaskState[] = action === "retry" ? ["failed", "cancelled"] : ["scheduled", "queued", "running", "retrying"];
  const chosen = filter.state === "" ? [] : filter.state.split(",");
  const states = chosen.length === 0 ? actionable : actionable.filter((state) => chosen.includes(state));
  return states.length === 0 ? null : { ...filter, state: states.join(",") };
}

interface ListState {
  tasks: Task[];
  /** Events of matching tasks not on this page (another page, or not new): the list is behind by that many. */
  changedElsewhere: number;
}

type ListAction = { type: "loaded"; tasks: Task[] } | { type: "event"; update: TaskEvent; firstPage: boolean; filter: Filter };

function matchesStates(filter: Filter, state: TaskState): boolean {
  return filter.state === "" || filter.state.split(",").includes(state);
}

/** The page's rows after a load, or after a live event: a row on the page is updated, a new task goes on top. */
function listReducer(state: ListState, action: ListAction): ListState {
  if (action.type === "loaded") return { tasks: action.tasks, changedElsewhere: 0 };
  const { update, firstPage, filter } = action;
  const index = state.tasks.findIndex((task) => task.taskId === update.taskId);
  if (index >= 0) {
    const tasks = [...state.tasks];
    const current = state.tasks[index] as Task;
    tasks[index] = { ...current, state: update.state, attempt: update.attempt, percent: update.percent, message: update.message, error: update.error ?? current.error };
    return { ...state, tasks };
  }
  if (!matchesStates(filter, update.state)) return state;
  // A new task (its first event) belongs at the top of the first page, unless a "created before" bound excludes it.
  if (update.sequence === 1 && firstPage && filter.before === "") {
    const created: Task = {
      taskId: update.taskId, name: update.name, description: "", state: update.state, attempt: update.attempt, maxRetries: 0, timeoutSecs: 0,
      error: update.error, percent: update.percent, message: update.message, workerId: update.workerId, createdAtMs: update.timestampMs,
      startedAtMs: null, finishedAtMs: null, nextAttemptAtMs: null, priority: 0, scheduleId: null, concurrencyKey: filter.key || null,
    };
    return { ...state, tasks: [created, ...state.tasks].slice(0, pageSize * 2) };
  }
  return { ...state, changedElsewhere: state.changedElsewhere + 1 };
}

function TaskTable({ tasks, loading, onAction }: { tasks: Task[]; loading: boolean; onAction: (task: Task, action: "cancel" | "retry") => void }) {
  return (
    <div class="table-wrap">
      <table aria-label="Tasks" aria-busy={loading}>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Attempt</th>
            <th scope="col">Created</th>
            <th scope="col">Progress</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((task) => (
            <tr key={task.taskId} data-task-id={task.taskId}>
              <td><a class="mono" href={`#/tasks/${encodeURIComponent(task.taskId)}`}>{task.taskId}</a></td>
              <td>{task.name}</td>
              <td><StateBadge state={task.state} /></td>
              <td class="num">{task.attempt}</td>
              <td>{formatTime(task.createdAtMs)}</td>
              <td class="progress-cell">{task.state === "running" ? `${Math.round(task.percent)}% ${task.message}` : task.error ?? ""}</td>
              <td class="row-actions">
                {!terminalStates.has(task.state) ? <button type="button" aria-label={`Cancel task ${task.taskId}`} onClick={() => onAction(task, "cancel")}>Cancel</button> : null}
                {task.state === "failed" || task.state === "cancelled" ? <button type="button" aria-label={`Retry task ${task.taskId}`} onClick={() => onAction(task, "retry")}>Retry</button> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * "Retry all matching…" and "Cancel all matching…": each asks for the count of tasks it would
 * change (CountTasks with the same filter), confirms it in a dialog, then acts and says how many it changed.
 */
function BulkActions({ filter, onNotice, onDone }: { filter: Filter; onNotice: (notice: string) => void; onDone: () => void }) {
  const [dialog, setDialog] = useState<{ action: "retry" | "cancel"; count: number } | null>(null);
  const hasFilter = filterQuery(filter) !== "";
  const open = async (action: "retry" | "cancel"): Promise<void> => {
    try {
      const scope = bulkFilter(filter, action);
      const { count } = scope === null ? { count: 0 } : await getJson<{ count: number }>(`/api/tasks/count${filterQuery(scope)}`);
      setDialog({ action, count });
    } catch (failure) {
      onNotice(failure instanceof Error ? failure.message : String(failure));
    }
  };
  const run = async (action: "retry" | "cancel"): Promise<void> => {
    const scope = bulkFilter(filter, action);
    if (scope === null) return;
    try {
      const { count } = await postJson<{ count: number }>(`/api/tasks/${action}${filterQuery(scope)}`);
      onNotice(`${action === "retry" ? "Retried" : "Cancelled"} ${count} task${count === 1 ? "" : "s"}.`);
    } catch (failure) {
      onNotice(failure instanceof Error ? `The bulk ${action} failed: ${failure.message}` : String(failure));
    }
    setDialog(null);
    onDone();
  };
  const hint = hasFilter ? undefined : "Set a filter first";
  return (
    <>
      <button type="button" disabled={!hasFilter} title={hint} onClick={() => void open("retry")}>Retry all matching…</button>
      <button type="button" disabled={!hasFilter} title={hint} onClick={() => void open("cancel")}>Cancel all matching…</button>
      {dialog !== null ? (
        <ConfirmDialog
          title={dialog.action === "retry" ? "Retry all matching tasks?" : "Cancel all matching tasks?"}
          confirmLabel={dialog.action === "retry" ? `Retry ${dialog.count} tasks` : `Cancel ${dialog.count} tasks`}
          confirmDisabled={dialog.count === 0}
          onConfirm={() => run(dialog.action)}
          onClose={() => setDialog(null)}
        >
          <p>
            {dialog.count} task{dialog.count === 1 ? "" : "s"} match the filter {dialog.action === "retry" ? "and can be retried (failed or cancelled)" : "and can be cancelled (not finished yet)"}:
            <code> {filterQuery(bulkFilter(filter, dialog.action) ?? filter).slice(1)}</code>
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export function TasksPage({ params }: { params: URLSearchParams }) {
  const filter = filterOf(params);
  const query = filterQuery(filter);
  const [list, dispatch] = useReducer(listReducer, { tasks: [], changedElsewhere: 0 });
  // Tokens of the pages before this one (to go back), and of the next.
  const [tokens, setTokens] = useState<string[]>([]);
  const [pageToken, setPageToken] = useState("");
  const [nextToken, setNextToken] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [notice, setNotice] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const reload = (): void => setReloads((count) => count + 1);

  useEffect(() => {
    setTokens([]);
    setPageToken("");
    setNotice(null);
  }, [query]);

  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    getJson<{ tasks: Task[]; nextPageToken: string | null }>(`/api/tasks${filterQuery(filter, { pageSize: String(pageSize), pageToken })}`, { signal: abort.signal }).then(
      (page) => {
        dispatch({ type: "loaded", tasks: page.tasks });
        setNextToken(page.nextPageToken);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (abort.signal.aborted) return;
        setError(failure instanceof Error ? failure.message : String(failure));
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [query, pageToken, reloads]);

  // The stream takes the filter's names and key, not its states (a row leaving the filter's state
  // is still updated) nor its times (which it cannot); listReducer applies the rest.
  const live = useLive(`/api/events${filterQuery({ ...filter, state: "", after: "", before: "" })}`, (event, data) => {
    if (event === "task") dispatch({ type: "event", update: data as TaskEvent, firstPage: pageToken === "", filter });
  });

  const act = async (task: Task, action: "cancel" | "retry"): Promise<void> => {
    try {
      await postJson(`/api/tasks/${encodeURIComponent(task.taskId)}/${action}`);
      setNotice(`${action === "cancel" ? "Cancelled" : "Retried"} task ${task.taskId}.`);
    } catch (failure) {
      setNotice(failure instanceof ApiError ? `Could not ${action} task ${task.taskId}: ${failure.message}` : String(failure));
    }
  };

  return (
    <section aria-labelledby="tasks-title">
      <div class="title-row">
        <h1 id="tasks-title">Tasks</h1>
        <LiveIndicator {...live} />
      </div>
      <FilterForm filter={filter} />
      <div class="actions-row">
        <BulkActions filter={filter} onNotice={setNotice} onDone={reload} />
        {list.changedElsewhere > 0 ? <button type="button" onClick={reload}>{list.changedElsewhere} more changes — reload</button> : null}
      </div>
      <p role="status" class="notice">{notice ?? ""}</p>
      <ErrorNote error={error} />
      <TaskTable tasks={list.tasks} loading={loading} onAction={(task, action) => void act(task, action)} />
      {!loading && list.tasks.length === 0 ? <p>No task matches.</p> : null}
      <nav class="pager" aria-label="Pages of tasks">
        <button type="button" disabled={tokens.length === 0} onClick={() => { setPageToken(tokens.at(-1) ?? ""); setTokens(tokens.slice(0, -1)); }}>Previous page</button>
        <button type="button" disabled={nextToken === null} onClick={() => { setTokens([...tokens, pageToken]); setPageToken(nextToken ?? ""); }}>Next page</button>
      </nav>
    </section>
  );
}
