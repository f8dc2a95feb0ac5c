import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * One registry per service instance, never prom-client's global one: a test (or `orchestrator
 * dev`) runs several services in one process, and each serves only its own series. The default
 * metrics are the process's (CPU, memory, file descriptors, event-loop lag, GC).
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Distinct task names a service labels series with, at most; the names after them share `otherNamesLabel`. */
export const maxNameLabels = 1000;
/** A task name cannot hold parentheses (limits.namePattern), so this label never stands for one real name. */
export const otherNamesLabel = "(other)";

/**
 * Task names are chosen by users, so the label values they make are capped: the first
 * `maxNameLabels` names seen keep their own series, later ones are added up under `otherNamesLabel`.
 */
export class NameLabels {
  private readonly seen = new Set<string>();

  constructor(private readonly max = maxNameLabels) {}

  of(name: string): string {
    if (this.seen.has(name)) return name;
    if (this.seen.size >= this.max) return otherNamesLabel;
    this.seen.add(name);
    return name;
  }
}

/**
 * A metric's child per task name, made once (prom-client hashes the labels on every labels() call,
 * which the hot path skips this way). Names past the cap share the `otherNamesLabel` child, and are
 * not remembered one by one, so the map stays bounded too.
 */
export class ByName<T> {
  private readonly children = new Map<string, T>();

  constructor(private readonly labels: NameLabels, private readonly make: (label: string) => T) {}

  of(name: string): T {
    const known = this.children.get(name);
    if (known) return known;
    const label = this.labels.of(name);
    const child = this.children.get(label) ?? this.make(label);
    this.children.set(label, child);
    return child;
  }
}
