// An OTLP/HTTP trace receiver for tests: a loopback HTTP server that takes what an OpenTelemetry
// exporter posts to /v1/traces in the JSON encoding (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and
// keeps each span with the service.name of its resource, so tests wait for spans rather than sleep.
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

interface AnyValue { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number }
interface KeyValue { key: string; value: AnyValue }
interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes?: KeyValue[]; status?: { code?: number; message?: string };
}
interface ExportRequest {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

/** One received span, flattened. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
}

function plain(value: AnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  return value.doubleValue ?? "";
}

function attributesOf(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));
}

export class OtlpReceiver extends EventEmitter {
  readonly spans: ReceivedSpan[] = [];
  /** Export requests received, whatever they held. */
  requests = 0;
  /** The bodies of protobuf export requests (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, the default). */
  readonly protobufBodies: Buffer[] = [];
  private constructor(private readonly server: Server, readonly endpoint: string) {
    super();
  }

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        receiver.requests++;
        const type = String(request.headers["content-type"]);
        if (request.url === "/v1/traces" && type.startsWith("application/x-protobuf")) {
          // Not decoded: a test looks for the bytes it expects (strings and ids are stored as they are).
          receiver.protobufBodies.push(Buffer.concat(chunks));
          receiver.emit("spans");
          response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
          return;
        }
        if (request.url !== "/v1/traces" || !type.startsWith("application/json")) {
          response.writeHead(415).end();
          return;
        }
        receiver.take(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest);
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    return receiver;
  }

  private take(body: ExportRequest): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = String(attributesOf(resourceSpans.resource?.attributes)["service.name"] ?? "");
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push({
            service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? "", name: span.name, kind: span.kind,
            attributes: attributesOf(span.attributes), statusCode: span.status?.code ?? 0,
          });
        }
      }
    }
    this.emit("spans");
  }

  /** Resolves once a protobuf export request's body satisfies `done`. */
  waitForProtobuf(done: (body: Buffer) => boolean, timeoutMs = 15_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const body = this.protobufBodies.find(done);
        if (!body) return false;
        clearTimeout(timer);
        this.off("spans", check);
        resolve(body);
        return true;
      };
      const timer = setTimeout(() => {
        this.off("spans", check);
        reject(new Error(`the receiver got no matching protobuf export within ${timeoutMs} ms (${this.protobufBodies.length} received)`));
      }, timeoutMs);
      if (!check()) this.on("spans", check);
    });
  }

  /** Resolves once the spans received satisfy `done`, or rejects after `timeoutMs` naming those received. */
  waitFor(done: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs = 15_000): Promise<readonly ReceivedSpan[]> {
    if (done(this.spans)) return Promise.resolve(this.spans);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("spans", check);
        reject(new Error(`the receiver did not get the expected spans within ${timeoutMs} ms; it got: ${this.spans.map((s) => `${s.service}/${s.name}`).join(", ")}`));
      }, timeoutMs);
      const check = (): void => {
        if (!done(this.spans)) return;
        clearTimeout(timer);
        this.off("spans", check);
        resolve(this.spans);
      };
      this.on("spans", check);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
