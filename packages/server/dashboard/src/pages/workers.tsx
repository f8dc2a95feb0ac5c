// The workers connected to the Scheduler(s): what they serve, their slots in use, their last heartbeat.
import { getJson, type Worker } from "../api";
import { ErrorNote, formatAgo, formatTime, usePolled } from "../ui";

export function WorkersPage() {
  const workers = usePolled((signal) => getJson<{ workers: Worker[] }>("/api/workers", { signal }), 3_000, []);
  const list = workers.value?.workers ?? [];
  return (
    <section aria-labelledby="workers-title">
      <h1 id="workers-title">Workers</h1>
      <ErrorNote error={workers.error} />
      {workers.value !== null && list.length === 0 ? <p>No worker is connected. Start one with <code>orchestrator worker</code>.</p> : null}
      {list.length > 0 ? (
        <div class="table-wrap">
          <table aria-label="Workers">
            <thead>
              <tr>
                <th scope="col">Worker</th><th scope="col">Task names</th><th scope="col" class="num">Slots in use</th>
                <th scope="col">Last heartbeat</th><th scope="col">Connected</th><th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {list.map((worker) => (
                <tr key={worker.workerId}>
                  <td class="mono">{worker.workerId}</td>
                  <td>{worker.taskNames.join(", ") || "—"}</td>
                  <td class="num">{worker.running} / {worker.slots}{worker.held > 0 ? ` (${worker.held} held)` : ""}</td>
                  <td title={formatTime(worker.lastSeenMs)}>{formatAgo(worker.lastSeenMs)}</td>
                  <td>{formatTime(worker.connectedAtMs)}</td>
                  <td>{worker.draining ? "draining" : "serving"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
