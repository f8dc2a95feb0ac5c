// Per task name: how many tasks wait, run and ended, and how many finished in each recent minute.
// Counts come from GetTaskStats, fetched again every few seconds. Not fed by the event stream: on a
// busy cluster that is thousands of events a second, all to learn that the counts changed.
import { getJson, taskStates, type NameStats } from "../api";
import { ErrorNote, LiveIndicator, Sparkline, usePolled } from "../ui";

const minutes = 15;
const refreshMs = 3_000;

export function OverviewPage() {
  const stats = usePolled((signal) => getJson<{ names: NameStats[]; firstMinuteMs: number }>(`/api/stats?minutes=${minutes}`, { signal }), refreshMs, []);
  const live = { live: stats.error === null && stats.value !== null, reason: stats.error };
  const names = stats.value?.names ?? [];
  return (
    <section aria-labelledby="overview-title">
      <div class="title-row">
        <h1 id="overview-title">Overview</h1>
        <LiveIndicator {...live} />
        <span class="muted">updated every {refreshMs / 1000} s</span>
      </div>
      <ErrorNote error={stats.error} />
      {stats.value !== null && names.length === 0 ? <p>No tasks yet. Submit one with the SDK or <code>orchestrator submit</code>.</p> : null}
      {names.length > 0 ? (
        <div class="table-wrap">
          <table aria-label="Tasks per name">
            <thead>
              <tr>
                <th scope="col">Name</th>
                {taskStates.map((state) => <th scope="col" class="num">{state}</th>)}
                <th scope="col">Last {minutes} min (succeeded / failed)</th>
              </tr>
            </thead>
            <tbody>
              {names.map((entry) => (
                <tr key={entry.name} data-name={entry.name}>
                  <th scope="row">
                    <a href={`#/tasks?name=${encodeURIComponent(entry.name)}`}>{entry.name}</a>
                    {entry.paused ? <span class="tag">paused</span> : null}
                  </th>
                  {taskStates.map((state) => (
                    <td class="num" data-state={state}>
                      {entry.counts[state] > 0 ? <a href={`#/tasks?name=${encodeURIComponent(entry.name)}&state=${state}`}>{entry.counts[state]}</a> : "0"}
                    </td>
                  ))}
                  <td class="sparks">
                    <Sparkline label={`${entry.name} succeeded per minute`} values={entry.succeededPerMinute} kind="ok" />
                    <Sparkline label={`${entry.name} failed per minute`} values={entry.failedPerMinute} kind="bad" />
                    <span class="rate">{entry.succeededPerMinute.at(-2) ?? 0}/min</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
