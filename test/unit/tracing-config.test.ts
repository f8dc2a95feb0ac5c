// When a service traces, from the standard OTEL_* variables alone: off unless they ask for it.
import { describe, expect, it } from "vitest";
import { tracingConfig } from "../../packages/server/src/tracing/setup.js";

const endpoint = "http://collector:4318";

describe("tracingConfig", () => {
  it.each([
    ["nothing set", {}],
    ["only a service name", { OTEL_SERVICE_NAME: "billing" }],
    ["an endpoint, but OTEL_SDK_DISABLED=true", { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SDK_DISABLED: "TRUE" }],
    ["OTEL_TRACES_EXPORTER=none beside an endpoint", { OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }],
    ["an empty endpoint", { OTEL_EXPORTER_OTLP_ENDPOINT: " " }],
  ])("is off with %s", (_, env) => {
    expect(tracingConfig(env)).toBeNull();
  });

  it.each([
    ["an OTLP endpoint", { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, { kind: "otlp", protocol: "http/protobuf" }],
    ["a traces endpoint, as JSON", { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces`, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }, { kind: "otlp", protocol: "http/json" }],
    ["the traces protocol over the general one", { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" }, { kind: "otlp", protocol: "http/protobuf" }],
    ["OTEL_TRACES_EXPORTER=otlp and no endpoint (the exporter's default, localhost:4318)", { OTEL_TRACES_EXPORTER: "otlp" }, { kind: "otlp", protocol: "http/protobuf" }],
    ["OTEL_TRACES_EXPORTER=console", { OTEL_TRACES_EXPORTER: "console" }, { kind: "console" }],
    ["OTEL_SDK_DISABLED=false", { OTEL_SDK_DISABLED: "false", OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, { kind: "otlp", protocol: "http/protobuf" }],
  ])("is on with %s", (_, env, exporter) => {
    expect(tracingConfig(env)).toEqual({ exporter });
  });

  it("refuses what it cannot export, saying why", () => {
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: "zipkin" })).toEqual({ error: expect.stringMatching(/^OTEL_TRACES_EXPORTER "zipkin" is not supported/) as unknown });
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toEqual({ error: expect.stringMatching(/^OTLP protocol "grpc" .* is not supported/) as unknown });
  });
});
