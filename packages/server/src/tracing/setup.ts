// OpenTelemetry tracing of a service process, configured the standard way (OTEL_* variables) and
// off unless they ask for it. The SDK and exporter are imported only then, so a process without
// tracing loads none of them and starts and idles as before.
import type { Logger } from "orchestrator-ts-client/internal";
import { version } from "orchestrator-ts-client/internal";
import type { RunningService } from "../util/service.js";
import { markTracingStarted } from "./spans.js";

export type TraceProtocol = "http/protobuf" | "http/json";

export interface TracingConfig {
  /** Where spans go: OTLP over HTTP (the exporter reads its endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*), or the console. */
  exporter: { kind: "otlp"; protocol: TraceProtocol } | { kind: "console" };
}

type Env = Readonly<Record<string, string | undefined>>;

function setting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === "" ? undefined : value;
}

/**
 * Whether and how the process traces, from the variables OpenTelemetry's SDKs read:
 * OTEL_SDK_DISABLED=true turns it off whatever else is set; otherwise OTEL_TRACES_EXPORTER (otlp or
 * console; none is off) decides, and without it an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns OTLP on. Null: no tracing. Unlike the SDKs' own
 * default, nothing set means off, so a service never sends spans to a collector nobody configured.
 */
export function tracingConfig(env: Env): TracingConfig | { error: string } | null {
  if (setting(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return null;
  const exporters = setting(env, "OTEL_TRACES_EXPORTER")?.toLowerCase().split(",").map((name) => name.trim()).filter(Boolean);
  const endpoint = setting(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? setting(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  let kind: "otlp" | "console";
  if (exporters !== undefined) {
    const unknown = exporters.find((name) => !["otlp", "console", "none"].includes(name));
    if (unknown !== undefined) return { error: `OTEL_TRACES_EXPORTER "${unknown}" is not supported (use otlp, console or none)` };
    if (exporters.includes("otlp")) kind = "otlp";
    else if (exporters.includes("console")) kind = "console";
    else return null;
  } else if (endpoint !== undefined) {
    kind = "otlp";
  } else {
    return null;
  }
  if (kind === "console") return { exporter: { kind } };
  const protocol = setting(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? setting(env, "OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    return { error: `OTLP protocol "${protocol}" (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL) is not supported; use http/protobuf (port 4318) or http/json` };
  }
  return { exporter: { kind, protocol } };
}

/** Tracing of a running process: flush what is left and stop, on the service's stop. */
export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Registers a tracer provider for the process (global, as the OpenTelemetry API has it), exporting
 * in batches, when the environment asks for tracing; null when it does not, or asks for something
 * unsupported (said in the log: a service is not refused for its telemetry settings).
 * `defaultServiceName`: service.name when OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) sets none.
 */
export async function startTracing(defaultServiceName: string, logger: Logger, env: Env = process.env): Promise<Tracing | null> {
  const config = tracingConfig(env);
  if (config === null) return null;
  if ("error" in config) {
    logger.error({ reason: config.error }, "OpenTelemetry tracing is off: its settings are not supported");
    return null;
  }
  const [{ NodeTracerProvider, BatchSpanProcessor, ConsoleSpanExporter }, { defaultResource, detectResources, envDetector, resourceFromAttributes }, { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION }] =
    await Promise.all([import("@opentelemetry/sdk-trace-node"), import("@opentelemetry/resources"), import("@opentelemetry/semantic-conventions")]);
  const exporter = config.exporter.kind === "console"
    ? new ConsoleSpanExporter()
    : config.exporter.protocol === "http/json"
      ? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter()
      : new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
  // Later resources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (envDetector) over the defaults.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: defaultServiceName, [ATTR_SERVICE_VERSION]: version }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // Also registers the W3C Trace Context propagator and the AsyncLocalStorage context manager.
  provider.register();
  markTracingStarted();
  logger.info({ exporter: config.exporter, service_name: resource.attributes[ATTR_SERVICE_NAME] }, "OpenTelemetry tracing is on");
  return {
    shutdown: async () => {
      try {
        await provider.shutdown();
      } catch (error) {
        logger.warn({ err: error }, "Could not export the last spans");
      }
    },
  };
}

/** The service, stopping which also exports the spans still buffered (after the service's own last ones). */
export function withTracing<T extends RunningService>(service: T, tracing: Tracing | null): T {
  if (!tracing) return service;
  return { ...service, stop: async () => {
    try {
      await service.stop();
    } finally {
      await tracing.shutdown();
    }
  } };
}
