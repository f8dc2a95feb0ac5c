/** Defaults of the Worker service (the process around the SDK's Worker), each written once; the CLI reads them from here. */
export const workerServiceDefaults = {
  host: "127.0.0.1",
  port: 50053,
  /** Port of the HTTP listener (/metrics, /healthz, /readyz); null: none. */
  httpPort: null,
} as const;
