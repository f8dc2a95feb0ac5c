// The dashboard: sign-in (when the Gateway has keys), the navigation, and hash routes to the pages.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, getJson, signedOutEvent, storedKey, storeKey } from "./api";
import { OverviewPage } from "./pages/overview";
import { SchedulesPage } from "./pages/schedules";
import { TaskPage } from "./pages/task";
import { TasksPage } from "./pages/tasks";
import { WorkersPage } from "./pages/workers";
import { ErrorNote } from "./ui";

interface Route {
  page: "overview" | "tasks" | "task" | "workers" | "schedules";
  params: URLSearchParams;
  taskId?: string;
}

function currentRoute(): Route {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path = "/", query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  const task = /^\/tasks\/([^/]+)$/.exec(path);
  if (task) return { page: "task", params, taskId: decodeURIComponent(task[1] ?? "") };
  if (path === "/tasks") return { page: "tasks", params };
  if (path === "/workers") return { page: "workers", params };
  if (path === "/schedules") return { page: "schedules", params };
  return { page: "overview", params };
}

const pages = [
  { page: "overview", href: "#/", label: "Overview" },
  { page: "tasks", href: "#/tasks", label: "Tasks" },
  { page: "workers", href: "#/workers", label: "Workers" },
  { page: "schedules", href: "#/schedules", label: "Schedules & paused names" },
] as const;

function SignIn({ reason, onSignedIn }: { reason: string | null; onSignedIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(reason);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    try {
      await getJson("/api/session", { key: key.trim() });
      storeKey(key.trim());
      onSignedIn();
    } catch (failure) {
      setError(failure instanceof ApiError ? `Not signed in: ${failure.message}` : String(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Orchestrator</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <p>This Gateway needs a client key (role <code>client</code>). It is kept in this tab only.</p>
        <label for="key">Client key</label>
        <input id="key" type="password" autocomplete="off" required value={key} onInput={(event) => setKey(event.currentTarget.value)} />
        <button type="submit" disabled={busy}>Sign in</button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}

function App() {
  const [route, setRoute] = useState(currentRoute);
  const [config, setConfig] = useState<{ authRequired: boolean } | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [signedIn, setSignedIn] = useState(storedKey() !== null);
  const [signOutReason, setSignOutReason] = useState<string | null>(null);

  useEffect(() => {
    const onHash = (): void => setRoute(currentRoute());
    const onSignedOut = (event: Event): void => {
      storeKey(null);
      setSignedIn(false);
      setSignOutReason(`Not signed in: ${(event as CustomEvent<string>).detail}`);
    };
    window.addEventListener("hashchange", onHash);
    window.addEventListener(signedOutEvent, onSignedOut);
    getJson<{ authRequired: boolean }>("/api/config").then(setConfig, (error: unknown) => setConfigError(String(error)));
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener(signedOutEvent, onSignedOut);
    };
  }, []);

  useEffect(() => {
    const label = pages.find((entry) => entry.page === route.page)?.label ?? "Task";
    document.title = `${label} · Orchestrator`;
  }, [route.page]);

  if (config === null) return <main><ErrorNote error={configError} />{configError === null ? <p>Loading…</p> : null}</main>;
  if (config.authRequired && !signedIn) {
    return <SignIn reason={signOutReason} onSignedIn={() => { setSignOutReason(null); setSignedIn(true); }} />;
  }
  const signOut = (): void => {
    storeKey(null);
    setSignedIn(false);
  };
  return (
    <>
      <a class="skip" href="#content">Skip to content</a>
      <header>
        <span class="brand">Orchestrator</span>
        <nav aria-label="Pages">
          {pages.map((entry) => (
            <a href={entry.href} aria-current={route.page === entry.page || (entry.page === "tasks" && route.page === "task") ? "page" : undefined}>{entry.label}</a>
          ))}
        </nav>
        {config.authRequired ? <button type="button" class="link" onClick={signOut}>Sign out</button> : null}
      </header>
      <main id="content" tabIndex={-1}>
        {route.page === "overview" ? <OverviewPage /> : null}
        {route.page === "tasks" ? <TasksPage params={route.params} /> : null}
        {route.page === "task" && route.taskId !== undefined ? <TaskPage taskId={route.taskId} /> : null}
        {route.page === "workers" ? <WorkersPage /> : null}
        {route.page === "schedules" ? <SchedulesPage /> : null}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
