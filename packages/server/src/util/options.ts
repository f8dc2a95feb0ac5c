/** Options given by the caller over the defaults; an option left undefined keeps its default. */
export function withDefaults<T extends object>(defaults: Required<T>, options: T): Required<T> {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...defaults, ...given } as Required<T>;
}
