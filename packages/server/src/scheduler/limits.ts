/** Every limit a request is held to; README "Limits" lists the same numbers. */
export const limits = {
  nameMaxLength: 128,
  namePattern: /^[A-Za-z0-9._:/-]+$/,
  descriptionMaxLength: 1024,
  /**
   * A traceparent: version 00 is 55 characters; later versions may append fields, so a little room.
   * A tracestate: W3C lets a vendor cut one longer than 512 characters, and OpenTelemetry does.
   */
  traceparentMaxLength: 256,
  tracestateMaxLength: 512,
  idempotencyKeyMaxLength: 256,
  payloadMaxBytes: 1024 * 1024,
  resultMaxBytes: 1024 * 1024,
  timeoutSecs: { min: 1, max: 86_400, default: 300 },
  maxRetries: { min: 0, max: 100, default: 3 },
  /** Higher starts first; 0 in the middle so a task can be made both more and less urgent than the default. */
  priority: { min: -100, max: 100, default: 0 },
  /** How far ahead run_at_ms and delay_ms may put a task's start: one year. */
  maxDelayMs: 365 * 24 * 3600 * 1000,
  retryBackoffMs: { min: 1, max: 3_600_000 },
  batchMaxTasks: 1000,
  pageSize: { min: 1, max: 1000, default: 50 },
  reasonMaxLength: 1024,
  progressMessageMaxLength: 1024,
  workerSlots: { min: 1, max: 10_000 },
  workerTaskNames: 1000,
  /** SubscribeProgress streams one client connection may hold open at the Gateway. */
  subscribersPerConnection: 1000,
  /** SubscribeProgress streams the Gateway holds open for all its clients together (default of --max-subscribers). */
  subscribersPerGateway: 20_000,
  /**
   * Updates of one subscription the Scheduler sends on the Watch stream before the Gateway grants
   * more (as the client's stream drains): what a slow reader can make the Gateway hold for it.
   */
  watchWindow: 16,
  /** WatchTasks streams one client connection may hold open at the Gateway (each is a call to a Scheduler). */
  taskWatchersPerConnection: 100,
  /** Unanswered submits one client's SubmitStream may have in flight at the Gateway. */
  submitsInFlightPerStream: 10_000,
  /** Unanswered submits the Gateway's SubmitStream (all its clients together) may have in flight at the Scheduler. */
  gatewaySubmitsInFlight: 100_000,
  /** HTTP/2 streams (calls) open at once on one connection; more wait for a free one. */
  concurrentStreamsPerConnection: 2000,
  /** Largest gRPC message any service accepts. */
  messageMaxBytes: 4 * 1024 * 1024,
  /** Largest metadata (request headers: name + value + 32 per entry) a call may carry. */
  metadataMaxBytes: 16 * 1024,
} as const;
