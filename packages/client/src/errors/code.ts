/**
 * The closed set of error codes, one for each gRPC status code (same names, same numbers), so an
 * error keeps its meaning from the store to the wire and back into a client.
 */
export const Code = {
  Cancelled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

export type Code = (typeof Code)[keyof typeof Code];

const names = new Map<number, string>(Object.entries(Code).map(([name, value]) => [value, name]));

export function codeName(code: Code): string {
  return names.get(code) ?? "Unknown";
}

export function isCode(value: unknown): value is Code {
  return typeof value === "number" && names.has(value);
}
