// W2-hops: where a W2 task's dispatch latency goes, hop by hop, read from the system's own
// OpenTelemetry spans. Every service runs with tracing on (OTLP/HTTP JSON to a receiver in the
// bench), and the client registers a tracer provider so each submit carries a trace context. The
// services' spans are batched and sent only when they stop (a long export delay), so no export
// runs inside the paced window. Each stage is the difference of two span edges of one task:
//
//   submit call start --(client -> Gateway)--> forward start --(Gateway -> Scheduler)--> enqueue start
//   --(commit: group commit + fsync)--> enqueue end --(committed -> pushed: claim round)--> dispatch end
//   --(Scheduler -> worker)--> run start --(worker: run span -> handler)--> handler start
//
// The stages add up to the dispatch latency W2 reports. Span times come from
// performance.timeOrigin + performance.now() in every process, as the bench's own clock does.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { distribution, round, type Distribution } from "./util.js";

interface OtlpValue { stringValue?: string; intValue?: number | string }
interface OtlpSpan { name: string; startTimeUnixNano: string | number; endTimeUnixNano: string | number; attributes?: Array<{ key: string; value: OtlpValue }> }
interface OtlpExport { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> }

/** The edges of one task's service spans, Unix ms (sub-ms). */
interface TaskSpans { forward?: [number, number]; enqueue?: [number, number]; dispatch?: [number, number]; run?: [number, number] }

/** One traced task: its submit and handler start (the bench's) and its four service spans. */
interface TaskEdges {
  submitStart: number;
  handlerStart: number;
  forward: [number, number];
  enqueue: [number, number];
  dispatch: [number, number];
  run: [number, number];
}

/** The six hops, in order, each as the difference of two edges; together they make the dispatch latency. */
const stages: ReadonlyArray<[string, (task: TaskEdges) => number]> = [
  ["ClientToGateway", (task) => task.forward[0] - task.submitStart],
  ["GatewayToScheduler", (task) => task.enqueue[0] - task.forward[0]],
  ["Commit", (task) => task.enqueue[1] - task.enqueue[0]],
  ["CommittedToPushed", (task) => task.dispatch[1] - task.enqueue[1]],
  ["SchedulerToWorker", (task) => task.run[0] - task.dispatch[1]],
  ["WorkerToHandler", (task) => task.handlerStart - task.run[0]],
];

const taskIdAttribute = "orchestrator.task.id";

function unixMs(nanos: string | number): number {
  // Nanoseconds since the epoch exceed 2^53: split before dividing to keep sub-ms digits.
  const text = String(nanos);
  return Number(text.slice(0, -6)) + Number(text.slice(-6)) / 1e6;
}

/** A loopback OTLP/HTTP receiver (JSON encoding) keeping each task's span edges by task id. */
export class SpanReceiver {
  private readonly tasks = new Map<string, TaskSpans>();
  spans = 0;

  private constructor(private readonly server: Server, readonly endpoint: string) {}

  static async start(): Promise<SpanReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const receiver = new SpanReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        try {
          receiver.take(JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpExport);
          response.writeHead(200, { "content-type": "application/json" }).end("{}");
        } catch {
          response.writeHead(400).end();
        }
      });
    });
    return receiver;
  }

  /** What each service needs in its environment to send its spans here, after the run only. */
  serviceEnv(): Record<string, string> {
    return {
      OTEL_EXPORTER_OTLP_ENDPOINT: this.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      // Held until the service stops (it flushes on shutdown): no export inside the measured window.
      OTEL_BSP_SCHEDULE_DELAY: "3600000", OTEL_BSP_MAX_QUEUE_SIZE: "200000", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "20000",
      OTEL_BSP_EXPORT_TIMEOUT: "60000",
    };
  }

  private take(body: OtlpExport): void {
    for (const resource of body.resourceSpans ?? []) {
      for (const scope of resource.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          const taskId = span.attributes?.find((attribute) => attribute.key === taskIdAttribute)?.value.stringValue;
          const kind = span.name.split(" ")[0];
          if (!taskId || (kind !== "forward" && kind !== "enqueue" && kind !== "dispatch" && kind !== "run")) continue;
          this.spans++;
          const entry = this.tasks.get(taskId) ?? {};
          entry[kind] = [unixMs(span.startTimeUnixNano), unixMs(span.endTimeUnixNano)];
          this.tasks.set(taskId, entry);
        }
      }
    }
  }

  /**
   * Per stage, the distribution over the tasks that have every span; `tasks` gives each task's
   * submit-call start and handler start (the bench's clock). hopsMissing: tasks without all four.
   */
  breakdown(tasks: ReadonlyArray<{ taskId: string; submitStart: number; handlerStart: number }>): Record<string, number> {
    const values = stages.map(() => [] as number[]);
    let missing = 0;
    for (const { taskId, submitStart, handlerStart } of tasks) {
      const spans = this.tasks.get(taskId);
      if (!spans?.forward || !spans.enqueue || !spans.dispatch || !spans.run) {
        missing++;
        continue;
      }
      const edges: TaskEdges = { submitStart, handlerStart, forward: spans.forward, enqueue: spans.enqueue, dispatch: spans.dispatch, run: spans.run };
      stages.forEach(([, length], index) => values[index]?.push(length(edges)));
    }
    const figures: Record<string, number> = { hopsTraced: tasks.length - missing, hopsMissing: missing };
    stages.forEach(([stage], index) => {
      const spread: Distribution = distribution(values[index] ?? []);
      figures[`hop${stage}P50`] = round(spread.p50, 3);
      figures[`hop${stage}P99`] = round(spread.p99, 3);
    });
    return figures;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The hop figures in stage order, for the report. */
export const hopFigures = stages.flatMap(([stage]) => [`hop${stage}P50`, `hop${stage}P99`]);
