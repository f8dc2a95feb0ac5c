// Small pieces every page uses: formatting, the state badge, the sparkline, the confirmation
// dialog, and hooks for polling and live streams.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { followLive, type LiveHandlers, type TaskState } from "./api";

export function formatTime(ms: number | null | undefined): string {
  if (!ms) return "—";
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

export function formatAgo(ms: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

export function StateBadge({ state }: { state: TaskState }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

/** Per-minute counts as a tiny line chart; the numbers themselves are its accessible name. */
export function Sparkline({ label, values, kind }: { label: string; values: number[]; kind: "ok" | "bad" }) {
  const width = 120;
  const height = 24;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((value, index) => `${(index * step).toFixed(1)},${(height - 2 - (value / max) * (height - 4)).toFixed(1)}`).join(" ");
  return (
    <svg class={`spark spark-${kind}`} width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${label}: ${values.join(", ")}`}>
      <polyline points={points} fill="none" stroke-width="1.5" />
    </svg>
  );
}

/**
 * A modal dialog (the native <dialog>: focus moves into it, Escape closes it, focus returns to
 * what opened it). `onConfirm` runs on the confirm button; the dialog stays open while it runs.
 */
export function ConfirmDialog(props: { title: string; children: ComponentChildren; confirmLabel: string; confirmDisabled?: boolean; onConfirm: () => Promise<void> | void; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const confirm = async (): Promise<void> => {
    setBusy(true);
    try {
      await props.onConfirm();
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onClose={props.onClose}>
      <h2 id="dialog-title">{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <div class="buttons">
        <button type="button" onClick={() => ref.current?.close()}>Keep them</button>
        <button type="button" class="danger" disabled={busy || props.confirmDisabled === true} onClick={confirm}>{props.confirmLabel}</button>
      </div>
    </dialog>
  );
}

/** Calls `load` now and every `intervalMs` while the tab is shown, and again whenever `deps` change; keeps the last value and error. */
export function usePolled<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number, deps: unknown[]): { value: T | null; error: string | null; reload: () => void } {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  // A hidden tab asks nothing (its polls would load the Scheduler for no one); it catches up when shown.
  useEffect(() => {
    const onVisible = (): void => {
      if (document.visibilityState === "visible") setTick((count) => count + 1);
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, []);
  useEffect(() => {
    const abort = new AbortController();
    if (document.visibilityState === "hidden" && tick > 0) return undefined;
    load(abort.signal).then(
      (loaded) => {
        setValue(loaded);
        setError(null);
      },
      (failure: unknown) => {
        if (!abort.signal.aborted) setError(failure instanceof Error ? failure.message : String(failure));
      },
    );
    const timer = intervalMs > 0 ? setTimeout(() => setTick((count) => count + 1), intervalMs) : undefined;
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { value, error, reload: () => setTick((count) => count + 1) };
}

/** Follows a live stream while the component is shown (and `path` stays the same); returns whether it is live. */
export function useLive(path: string | null, onMessage: LiveHandlers["onMessage"]): { live: boolean; reason: string | null } {
  const [status, setStatus] = useState<{ live: boolean; reason: string | null }>({ live: false, reason: null });
  const handler = useRef(onMessage);
  handler.current = onMessage;
  useEffect(() => {
    if (path === null) return undefined;
    const abort = new AbortController();
    void followLive(path, {
      onMessage: (event, data) => handler.current(event, data),
      onStatus: (state, reason) => setStatus({ live: state === "live", reason: reason ?? null }),
    }, abort.signal);
    return () => abort.abort();
  }, [path]);
  return status;
}

export function LiveIndicator({ live, reason }: { live: boolean; reason: string | null }) {
  return (
    <span class={live ? "live on" : "live off"} title={reason ?? undefined}>
      {live ? "● live" : `○ not live${reason ? `: ${reason}` : ""}`}
    </span>
  );
}

export function ErrorNote({ error }: { error: string | null }) {
  return error === null ? null : <p class="error" role="alert">{error}</p>;
}
