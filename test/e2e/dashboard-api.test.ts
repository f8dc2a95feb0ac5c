// The dashboard's HTTP side without a browser, on a Gateway with keys: the built page and its
// caching, the API's key check (none, unknown, wrong role, client), errors as JSON with their
// status, the action guard, a pause and resume logged with the page's key id, downloads, and the
// live stream resumed by Last-Event-ID. And the README's way to open it: `orchestrator dev
// --gateway-http-port`, without keys.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyIdOf } from "../../packages/server/src/util/auth.js";
import { startDashboardRig, type DashboardRig } from "../helpers/dashboard.js";
import { freePort, ServiceProcess, tempDir } from "../helpers/processes.js";
import { SseReader, type SseMessage } from "../helpers/sse.js";

interface EventData {
  taskId: string;
  state: string;
  sequence: number;
  cursor: string;
}

describe("the dashboard's HTTP API on a Gateway with keys", () => {
  let rig: DashboardRig;

  beforeAll(async () => {
    rig = await startDashboardRig();
  }, 60_000);

  afterAll(async () => {
    await rig?.cluster.stop();
  });

  it("serves the page without a key: index.html never cached, hashed assets cached for good, each with its content type", async () => {
    const index = await fetch(`${rig.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((match) => match[1] as string);
    expect(assets.some((asset) => asset.endsWith(".js"))).toBe(true);
    expect(assets.some((asset) => asset.endsWith(".css"))).toBe(true);
    for (const asset of assets) {
      const response = await fetch(`${rig.baseUrl}/${asset}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(response.headers.get("content-type")).toBe(asset.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
    }
    // Nothing the page loads comes from elsewhere.
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    expect((await fetch(`${rig.baseUrl}/no-such-file.js`)).status).toBe(404);
  });

  it("tells the page a key is needed, refuses a missing, unknown or non-client key with 401/403 and a JSON reason, and takes the client key", async () => {
    expect(await (await fetch(`${rig.baseUrl}/api/config`)).json()).toMatchObject({ authRequired: true });

    const none = await fetch(`${rig.baseUrl}/api/tasks`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(await none.json()).toEqual({ code: "UNAUTHENTICATED", message: expect.stringContaining("needs an API key") });

    const unknown = await fetch(`${rig.baseUrl}/api/tasks`, { headers: { authorization: `Bearer ${"f".repeat(64)}` } });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toEqual({ code: "UNAUTHENTICATED", message: "the API key is not valid here" });

    const worker = await fetch(`${rig.baseUrl}/api/tasks`, { headers: { authorization: `Bearer ${rig.keys.worker}` } });
    expect(worker.status).toBe(403);
    expect((await worker.json()) as unknown).toMatchObject({ code: "PERMISSION_DENIED" });

    // A refused live stream is refused before it opens.
    expect((await fetch(`${rig.baseUrl}/api/events`)).status).toBe(401);

    const client = await fetch(`${rig.baseUrl}/api/tasks`, { headers: rig.clientAuth });
    expect(client.status).toBe(200);
    expect(await client.json()).toMatchObject({ tasks: expect.any(Array) });
    // The metrics keep their own key: a client key does not read them.
    expect((await fetch(`${rig.baseUrl}/metrics`, { headers: rig.clientAuth })).status).toBe(401);
  });

  it("answers errors as {code, message} with the code's HTTP status, and takes actions only as JSON requests", async () => {
    const missing = await fetch(`${rig.baseUrl}/api/tasks/01a24ab5-0000-7000-8000-000000000000`, { headers: rig.clientAuth });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "NOT_FOUND" });

    const badState = await fetch(`${rig.baseUrl}/api/tasks?state=sleeping`, { headers: rig.clientAuth });
    expect(badState.status).toBe(400);
    expect(await badState.json()).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("sleeping") });

    const { taskId } = await rig.cluster.client.submit({ name: "parked-for-api" });
    // A form post from another site cannot set this content type without a CORS preflight.
    const formPost = await fetch(`${rig.baseUrl}/api/tasks/${taskId}/cancel`, { method: "POST", headers: { ...rig.clientAuth, "content-type": "application/x-www-form-urlencoded" }, body: "x=1" });
    expect(formPost.status).toBe(400);
    expect((await rig.cluster.client.get(taskId)).state).toBe("queued");

    const cancel = await fetch(`${rig.baseUrl}/api/tasks/${taskId}/cancel`, { method: "POST", headers: { ...rig.clientAuth, "content-type": "application/json" }, body: "{}" });
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toEqual({ state: "cancelled", cancelled: true });

    const bulkWithoutFilter = await fetch(`${rig.baseUrl}/api/tasks/retry`, { method: "POST", headers: { ...rig.clientAuth, "content-type": "application/json" }, body: "{}" });
    expect(bulkWithoutFilter.status).toBe(400);
  });

  it("pauses and resumes a name holding \"/\" and \":\" (encoded by the page as one path segment)", async () => {
    const name = "reports/daily:v2";
    const post = (action: string): Promise<Response> =>
      fetch(`${rig.baseUrl}/api/names/${encodeURIComponent(name)}/${action}`, { method: "POST", headers: { ...rig.clientAuth, "content-type": "application/json" }, body: "{}" });
    expect(await (await post("pause")).json()).toEqual({ wasPaused: false });
    expect(await (await fetch(`${rig.baseUrl}/api/paused`, { headers: rig.clientAuth })).json()).toMatchObject({ paused: [{ name, reason: "paused from the dashboard" }] });
    expect(await (await post("resume")).json()).toEqual({ wasPaused: true });
    expect(await rig.cluster.client.listPausedQueues()).toEqual([]);
    // The Scheduler logs both with the id of the key the page presented, as the SDK's are.
    const keyId = keyIdOf(rig.keys.client);
    expect(await rig.cluster.scheduler.waitForLog((record) => record.action === "PauseQueue" && record.name === name)).toMatchObject({ key_id: keyId });
    expect(await rig.cluster.scheduler.waitForLog((record) => record.action === "ResumeQueue" && record.name === name)).toMatchObject({ key_id: keyId });
  });

  it("shows a task's payload and result up to the preview size and downloads all of their bytes", async () => {
    const payload = { text: "é".repeat(40_000) };
    const { taskId } = await rig.cluster.client.submit({ name: "echo", payload });
    expect((await rig.cluster.client.waitForResult(taskId)).state).toBe("succeeded");
    const response = await fetch(`${rig.baseUrl}/api/tasks/${taskId}`, { headers: rig.clientAuth });
    const task = (await response.json()) as { payload: { size: number; text: string; truncated: boolean }; result: { size: number } };
    const bytes = Buffer.from(JSON.stringify(payload));
    expect(task.payload.size).toBe(bytes.byteLength);
    expect(task.payload.truncated).toBe(true);
    // Cut at 64 KiB without splitting a two-byte character.
    expect(Buffer.byteLength(task.payload.text)).toBeLessThanOrEqual(64 * 1024);
    expect(bytes.toString("utf8").startsWith(task.payload.text)).toBe(true);
    const download = await fetch(`${rig.baseUrl}/api/tasks/${taskId}/payload`, { headers: rig.clientAuth });
    expect(download.headers.get("content-disposition")).toContain("attachment");
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    expect(Buffer.from(await (await fetch(`${rig.baseUrl}/api/tasks/${taskId}/result`, { headers: rig.clientAuth })).arrayBuffer()).byteLength).toBe(task.result.size);
  });

  it("streams task events live and resumes right after the event whose id the browser sends back as Last-Event-ID", async () => {
    // Its own concurrency key sets this test's task apart from the others' echo tasks.
    const key = `sse-${Date.now()}`;
    const first = await SseReader.open(`${rig.baseUrl}/api/events?name=echo&key=${key}`, rig.clientAuth);
    expect(first.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const ready = await first.next();
    expect(ready.event).toBe("ready");
    const { taskId } = await rig.cluster.client.submit({ name: "echo", payload: "hello", concurrencyKey: key });
    const isEnd = (message: SseMessage): boolean => message.event === "task" && (message.data as EventData).state === "succeeded";
    const events = await first.readUntil(isEnd);
    first.close();
    const states = events.map((message) => (message.data as EventData).state);
    expect(states).toEqual(["queued", "running", "succeeded"]);
    for (const message of events) {
      expect((message.data as EventData).taskId).toBe(taskId);
      expect(message.id).toBe((message.data as EventData).cursor);
    }

    // Resumed after the first event: the second comes next, nothing before it again.
    const resumed = await SseReader.open(`${rig.baseUrl}/api/events?name=echo&key=${key}`, { ...rig.clientAuth, "last-event-id": events[0]?.id ?? "" });
    const afterResume = await resumed.readUntil(isEnd);
    resumed.close();
    expect(afterResume[0]?.event).toBe("ready");
    expect(afterResume.slice(1).map((message) => (message.data as EventData).sequence)).toEqual([2, 3]);

    // One task's progress: its whole history from sequence 0, then an end.
    const progress = await SseReader.open(`${rig.baseUrl}/api/tasks/${taskId}/events`, rig.clientAuth);
    const history = await progress.readUntil((message) => message.event === "end");
    progress.close();
    expect(history.filter((message) => message.event === "progress").map((message) => (message.data as { state: string }).state)).toEqual(["queued", "running", "succeeded"]);
  });
});

describe("the README's `orchestrator dev --gateway-http-port`", () => {
  const data = tempDir();
  let dev: ServiceProcess | undefined;

  afterAll(async () => {
    await dev?.stop("SIGKILL");
    data.remove();
  });

  it("serves the dashboard on the Gateway's HTTP port, open without keys on loopback", async () => {
    const ports = { gateway: await freePort(), scheduler: await freePort(), worker: await freePort(), http: await freePort() };
    dev = new ServiceProcess("dev", [
      "--gateway-port", String(ports.gateway), "--scheduler-port", String(ports.scheduler), "--worker-port", String(ports.worker),
      "--gateway-http-port", String(ports.http), "--data-dir", data.path,
    ]);
    await dev.waitForMessage(`Gateway service listening on 127.0.0.1:${ports.gateway}`);
    const base = `http://127.0.0.1:${ports.http}`;
    expect(await (await fetch(`${base}/`)).text()).toContain("<title>Orchestrator dashboard</title>");
    expect(await (await fetch(`${base}/api/config`)).json()).toMatchObject({ authRequired: false });
    expect((await fetch(`${base}/api/workers`)).status).toBe(200);
  });
});
