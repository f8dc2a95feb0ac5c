import type { TaskEvent } from "../store/store.js";

export type EventListener = (event: TaskEvent) => void;

/** Live fan-out of committed task events to the subscribers of each task. */
export class EventHub {
  private readonly listeners = new Map<string, Set<EventListener>>();

  subscribe(taskId: string, listener: EventListener): () => void {
    let set = this.listeners.get(taskId);
    if (!set) {
      set = new Set();
      this.listeners.set(taskId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(taskId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(taskId);
    };
  }

  publish(event: TaskEvent | null): void {
    if (!event) return;
    const set = this.listeners.get(event.taskId);
    if (!set) return;
    for (const listener of [...set]) listener(event);
  }

  subscriberCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }
}
