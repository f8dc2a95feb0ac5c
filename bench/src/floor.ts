// The floor under W2 on this machine, measured the same way: what one loopback gRPC round trip
// between two Node processes and one fdatasync cost at 200 per second, with nothing else running.
// No target: it says how much of W2's latency is the machine's, not the orchestrator's. Also the
// floor under the idle-RSS target: a bare Node process, and the bare grpc-js server once it has
// answered the calls (what any gRPC service in Node holds before its own code).
//
//   node dist/bench/floor.js server <port>    a bare grpc-js echo server (unary and bidi stream)
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { freePort, NodeProcess } from "./services.js";
import type { Metrics } from "./scenarios.js";
import { distribution, sleep, wallNow } from "./util.js";

const same = (bytes: Buffer): Buffer => bytes;
const echoService = {
  Stream: { path: "/floor.Echo/Stream", requestStream: true, responseStream: true, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same, originalName: "stream" },
  Unary: { path: "/floor.Echo/Unary", requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same, originalName: "unary" },
} as const;

function serve(port: number): void {
  const server = new grpc.Server();
  server.addService(echoService, {
    Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (message: Buffer) => call.write(message));
      call.on("end", () => call.end());
    },
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error) => {
    if (error) throw error;
  });
}

/** Paced at `rate` per second like W2 (a fixed timetable), `seconds` long; returns each latency in ms. */
async function paced(rate: number, seconds: number, once: () => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const start = wallNow();
  for (let index = 0; index < rate * seconds; index++) {
    const due = start + (index * 1000) / rate;
    const wait = due - wallNow();
    if (wait > 0) await sleep(wait);
    const began = wallNow();
    await once();
    latencies.push(wallNow() - began);
  }
  return latencies;
}

async function roundTrips(rate: number, seconds: number): Promise<{ stream: number[]; unary: number[]; serverRssMb: number }> {
  const port = await freePort();
  const server = new NodeProcess("floor-server", fileURLToPath(import.meta.url), ["server", String(port)]);
  const Client = grpc.makeGenericClientConstructor(echoService, "Echo");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  try {
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
    const stream = client.makeBidiStreamRequest("/floor.Echo/Stream", same, same) as grpc.ClientDuplexStream<Buffer, Buffer>;
    let answered: (() => void) | undefined;
    stream.on("data", () => answered?.());
    stream.on("error", () => undefined); // the server stops right after; its reset is expected
    const message = Buffer.from("hello world");
    const overStream = (): Promise<void> => new Promise((resolve) => {
      answered = resolve;
      stream.write(message);
    });
    const unary = (): Promise<void> => new Promise((resolve, reject) => {
      client.makeUnaryRequest("/floor.Echo/Unary", same, same, message, (error) => (error ? reject(error) : resolve()));
    });
    await paced(rate, 1, overStream); // warm-up
    const streamLatencies = await paced(rate, seconds, overStream);
    await paced(rate, 1, unary);
    const unaryLatencies = await paced(rate, seconds, unary);
    stream.end();
    return { stream: streamLatencies, unary: unaryLatencies, serverRssMb: server.rssMb() };
  } finally {
    client.close();
    await server.stop();
  }
}

/** fdatasync after appending 8 KiB, as a WAL commit does, in the temp dir the stores use. */
async function syncs(rate: number, count: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), "orchestrator-bench-fsync-"));
  const fd = openSync(join(dir, "wal"), "a");
  const block = Buffer.alloc(8192, 7);
  try {
    return await paced(rate, count / rate, () => {
      writeSync(fd, block);
      fdatasyncSync(fd);
      return Promise.resolve();
    });
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** VmRSS of a Node process that does nothing, after the idle wait the services get. */
async function bareNodeRssMb(idleWaitMs: number): Promise<number> {
  const idle = new NodeProcess("bare-node", "-e", ["setInterval(() => {}, 1000)"]);
  try {
    await sleep(idleWaitMs);
    return idle.rssMb();
  } finally {
    await idle.stop();
  }
}

export async function runFloor(seconds: number, idleWaitMs: number): Promise<Metrics> {
  const rate = 200;
  const { stream, unary, serverRssMb } = await roundTrips(rate, seconds);
  const bareRssMb = await bareNodeRssMb(idleWaitMs);
  const fsync = await syncs(rate, rate * seconds);
  const s = distribution(stream);
  const u = distribution(unary);
  const f = distribution(fsync);
  return {
    streamRttP50: s.p50, streamRttP99: s.p99, streamRttMax: s.max,
    unaryRttP50: u.p50, unaryRttP99: u.p99, unaryRttMax: u.max,
    fsyncP50: f.p50, fsyncP99: f.p99, fsyncMax: f.max,
    bareNodeRssMb: bareRssMb, bareGrpcServerRssMb: serverRssMb,
  };
}

if (process.argv[2] === "server") serve(Number(process.argv[3]));
