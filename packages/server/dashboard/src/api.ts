// The page's way to the Gateway's /api/: JSON calls with the client key as a bearer token, and
// live streams read with fetch() (EventSource cannot send the Authorization header).

export const taskStates = ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"] as const;
export type TaskState = (typeof taskStates)[number];
export const terminalStates: ReadonlySet<TaskState> = new Set(["succeeded", "failed", "cancelled"]);

export interface BytesPreview {
  size: number;
  text: string | null;
  base64: string | null;
  truncated: boolean;
}

export interface Task {
  taskId: string;
  name: string;
  description: string;
  state: TaskState;
  attempt: number;
  maxRetries: number;
  timeoutSecs: number;
  error: string | null;
  percent: number;
  message: string;
  workerId: string | null;
  createdAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  nextAttemptAtMs: number | null;
  priority: number;
  scheduleId: string | null;
  concurrencyKey: string | null;
  payload?: BytesPreview;
  result?: BytesPreview | null;
}

export interface TaskEvent {
  taskId: string;
  name: string;
  state: TaskState;
  attempt: number;
  sequence: number;
  percent: number;
  message: string;
  timestampMs: number;
  workerId: string | null;
  error: string | null;
  cursor: string;
}

export interface Progress {
  sequence: number;
  state: TaskState;
  attempt: number;
  percent: number;
  message: string;
  timestampMs: number;
  workerId: string | null;
  error: string | null;
  nextAttemptAtMs: number | null;
}

export interface NameStats {
  name: string;
  counts: Record<TaskState, number>;
  succeededPerMinute: number[];
  failedPerMinute: number[];
  paused: boolean;
}

export interface Worker {
  workerId: string;
  taskNames: string[];
  slots: number;
  running: number;
  /** Of running, assigned ahead of a free slot (claim-ahead) and not started yet. */
  held: number;
  draining: boolean;
  connectedAtMs: number;
  lastSeenMs: number;
}

export interface Schedule {
  scheduleId: string;
  key: string;
  cron: string;
  timeZone: string;
  taskName: string;
  paused: boolean;
  nextFireAtMs: number | null;
  lastTaskId: string | null;
}

export interface PausedName {
  name: string;
  reason: string;
  pausedAtMs: number;
}

/** The filter of the tasks page, as in its URL and the API's query: name, state (comma-separated), key, after, before. */
export interface Filter {
  name: string;
  state: string;
  key: string;
  after: string;
  before: string;
}

export const emptyFilter: Filter = { name: "", state: "", key: "", after: "", before: "" };

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const keyItem = "orchestrator-dashboard-key";

/** The client key of this tab (sessionStorage: it goes when the tab closes). */
export function storedKey(): string | null {
  return sessionStorage.getItem(keyItem);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(keyItem);
  else sessionStorage.setItem(keyItem, key);
}

/** Fired when the API refuses the key, so the page asks for it again. */
export const signedOutEvent = "orchestrator-signed-out";

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = storedKey();
  return key === null ? extra : { ...extra, authorization: `Bearer ${key}` };
}

async function failure(response: Response): Promise<ApiError> {
  let code = "UNKNOWN";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { code?: string; message?: string };
    code = body.code ?? code;
    message = body.message ?? message;
  } catch {
    // Not our JSON (a proxy's page): the status line says enough.
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent(signedOutEvent, { detail: message }));
  return new ApiError(response.status, code, message);
}

export async function getJson<T>(path: string, options: { key?: string; signal?: AbortSignal } = {}): Promise<T> {
  const requestHeaders = options.key === undefined ? headers() : { authorization: `Bearer ${options.key}` };
  const response = await fetch(path, { headers: requestHeaders, signal: options.signal });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

export async function postJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { method: "POST", headers: headers({ "content-type": "application/json" }), body: "{}" });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/** Fetches the bytes (with the key) and hands them to the browser as a file download. */
export async function download(path: string, filename: string): Promise<void> {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function filterQuery(filter: Filter, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filter, ...extra })) if (value.trim() !== "") params.set(name, value.trim());
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

export interface LiveHandlers {
  onMessage(event: string, data: unknown): void;
  /** The stream is live (open, or open again, and its start fixed), or lost (with why); the page shows it. */
  onStatus?(status: "live" | "reconnecting", reason?: string): void;
}

/**
 * Reads a server-sent event stream with fetch(), resuming after the last id it saw (Last-Event-ID)
 * when the stream breaks, until `signal` aborts. A stream that ends with an `end` event is done.
 */
export async function followLive(path: string, handlers: LiveHandlers, signal: AbortSignal): Promise<void> {
  let lastId: string | undefined;
  let delayMs = 500;
  while (!signal.aborted) {
    let done = false;
    try {
      const response = await fetch(path, { headers: headers(lastId === undefined ? {} : { "last-event-id": lastId }), signal });
      if (!response.ok || response.body === null) throw await failure(response);
      delayMs = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffer += value;
        let boundary = buffer.indexOf("\n\n");
        while (boundary >= 0) {
          const message = parseMessage(buffer.slice(0, boundary));
          buffer = buffer.slice(boundary + 2);
          boundary = buffer.indexOf("\n\n");
          if (message === null) continue;
          if (message.id !== undefined) lastId = message.id;
          // "ready": the server's upstream has fixed where it starts, so what happens from now on will come.
          if (message.event === "ready") handlers.onStatus?.("live");
          if (message.event === "end") done = true;
          else if (message.event === "error") throw new ApiError(0, "STREAM", (message.data as { message?: string }).message ?? "the stream failed");
          else handlers.onMessage(message.event, message.data);
        }
      }
      if (done) return;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403 || error.status === 404 || error.status === 400)) {
        handlers.onStatus?.("reconnecting", error.message);
        return;
      }
      handlers.onStatus?.("reconnecting", error instanceof Error ? error.message : String(error));
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 5_000);
  }
}

function parseMessage(block: string): { event: string; data: unknown; id?: string } | null {
  let event = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":") || line === "") continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (data.length === 0) return id === undefined ? null : { event, data: null, id };
  return { event, data: JSON.parse(data.join("\n")) as unknown, id };
}
