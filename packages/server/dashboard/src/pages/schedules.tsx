// Cron schedules and paused task names, each with pause and resume.
import { useState } from "preact/hooks";
import { getJson, postJson, type PausedName, type Schedule } from "../api";
import { ErrorNote, formatTime, usePolled } from "../ui";

export function SchedulesPage() {
  const schedules = usePolled((signal) => getJson<{ schedules: Schedule[] }>("/api/schedules", { signal }), 10_000, []);
  const paused = usePolled((signal) => getJson<{ paused: PausedName[] }>("/api/paused", { signal }), 10_000, []);
  const [notice, setNotice] = useState<string | null>(null);
  const [name, setName] = useState("");

  const act = async (path: string, done: string): Promise<void> => {
    try {
      await postJson(path);
      setNotice(done);
    } catch (failure) {
      setNotice(failure instanceof Error ? failure.message : String(failure));
    }
    schedules.reload();
    paused.reload();
  };
  const pauseName = (event: Event): void => {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed === "") return;
    void act(`/api/names/${encodeURIComponent(trimmed)}/pause`, `Paused ${trimmed}.`).then(() => setName(""));
  };

  const scheduleList = schedules.value?.schedules ?? [];
  const pausedList = paused.value?.paused ?? [];
  return (
    <section aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules & paused names</h1>
      <p role="status" class="notice">{notice ?? ""}</p>
      <h2 id="paused-title">Paused names</h2>
      <ErrorNote error={paused.error} />
      <form class="inline" onSubmit={pauseName} aria-label="Pause a task name">
        <label>Task name <input value={name} onInput={(event) => setName(event.currentTarget.value)} required /></label>
        <button type="submit">Pause name</button>
      </form>
      {paused.value !== null && pausedList.length === 0 ? <p>No name is paused.</p> : null}
      {pausedList.length > 0 ? (
        <div class="table-wrap">
          <table aria-labelledby="paused-title">
            <thead><tr><th scope="col">Name</th><th scope="col">Reason</th><th scope="col">Paused at</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              {pausedList.map((entry) => (
                <tr key={entry.name}>
                  <td>{entry.name}</td><td>{entry.reason || "—"}</td><td>{formatTime(entry.pausedAtMs)}</td>
                  <td><button type="button" aria-label={`Resume ${entry.name}`} onClick={() => void act(`/api/names/${encodeURIComponent(entry.name)}/resume`, `Resumed ${entry.name}.`)}>Resume</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2 id="schedule-list-title">Schedules</h2>
      <ErrorNote error={schedules.error} />
      {schedules.value !== null && scheduleList.length === 0 ? <p>No schedule. Create one with <code>orchestrator schedule create</code> or the SDK.</p> : null}
      {scheduleList.length > 0 ? (
        <div class="table-wrap">
          <table aria-labelledby="schedule-list-title">
            <thead>
              <tr><th scope="col">Schedule</th><th scope="col">Task name</th><th scope="col">Cron</th><th scope="col">Next tick</th><th scope="col">Last task</th><th scope="col">Actions</th></tr>
            </thead>
            <tbody>
              {scheduleList.map((schedule) => {
                const label = schedule.key || schedule.scheduleId;
                return (
                  <tr key={schedule.scheduleId}>
                    <td class="mono">{label}</td>
                    <td><a href={`#/tasks?name=${encodeURIComponent(schedule.taskName)}`}>{schedule.taskName}</a></td>
                    <td><code>{schedule.cron}</code> {schedule.timeZone}</td>
                    <td>{schedule.paused ? "paused" : formatTime(schedule.nextFireAtMs)}</td>
                    <td>{schedule.lastTaskId ? <a class="mono" href={`#/tasks/${encodeURIComponent(schedule.lastTaskId)}`}>{schedule.lastTaskId}</a> : "—"}</td>
                    <td>
                      <button type="button" aria-label={`${schedule.paused ? "Resume" : "Pause"} schedule ${label}`}
                        onClick={() => void act(`/api/schedules/${encodeURIComponent(schedule.scheduleId)}/${schedule.paused ? "resume" : "pause"}`, `${schedule.paused ? "Resumed" : "Paused"} schedule ${label}.`)}>
                        {schedule.paused ? "Resume" : "Pause"}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
