import { limits } from "../scheduler/limits.js";

/**
 * version-trace id-parent id-flags, lower-case hex (W3C Trace Context); a version other than 00 may
 * append fields, ff is invalid. An all-zero trace or parent id is no context.
 */
const traceparentPattern = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-[^\s]*)?$/;

/** Whether `value` is a traceparent the Scheduler accepts (also for the Gateway, which ignores any other in a header). */
export function isTraceparent(value: string): boolean {
  return value.length <= limits.traceparentMaxLength && traceparentPattern.test(value) && (value.length === 55 || !value.startsWith("00"));
}

