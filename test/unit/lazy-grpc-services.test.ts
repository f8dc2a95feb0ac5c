// Standard gRPC health checking and server reflection, served by grpc-health-check and
// @grpc/reflection, which load on the first call (src/util/lazy-grpc-services.ts): real servers on
// loopback, real clients built from the libraries' own .proto files.
import { execFile } from "node:child_process";
import { on } from "node:events";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { credentials, loadPackageDefinition, status, type CallOptions, type ChannelCredentials, type Client, type ClientDuplexStream, type ClientReadableStream, type GrpcObject, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { afterEach, describe, expect, it } from "vitest";
import { GatewayService } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { startGrpcServer, type ServiceServer } from "../../packages/server/src/util/grpc-server.js";
import { repoRoot } from "../helpers/processes.js";

const run = promisify(execFile);

interface HealthResponse {
  status: string;
}

interface HealthClient extends Client {
  Check(request: { service: string }, options: CallOptions, callback: (error: ServiceError | null, response?: HealthResponse) => void): void;
  Watch(request: { service: string }): ClientReadableStream<HealthResponse>;
}

interface ReflectionRequest {
  list_services?: string;
  file_containing_symbol?: string;
}

interface ReflectionResponse {
  message_response: "list_services_response" | "file_descriptor_response" | "error_response";
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

interface ReflectionClient extends Client {
  ServerReflectionInfo(): ClientDuplexStream<ReflectionRequest, ReflectionResponse>;
}

type ClientConstructor<C> = new (address: string, channelCredentials: ChannelCredentials) => C;

// Loading proto-loader here is fine: it is the services that must not load it before they need it.
const protos = loadSync(
  ["health/v1/health.proto", "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"],
  {
    keepCase: true,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [join(repoRoot, "node_modules/grpc-health-check/proto"), join(repoRoot, "node_modules/@grpc/reflection/build/proto")],
  },
);
const grpcPackage = loadPackageDefinition(protos).grpc as GrpcObject;
const clientOf = <C>(path: string): ClientConstructor<C> =>
  path.split(".").reduce<unknown>((scope, name) => (scope as Record<string, unknown>)[name], grpcPackage) as ClientConstructor<C>;
const HealthClient = clientOf<HealthClient>("health.v1.Health");
const ReflectionV1Client = clientOf<ReflectionClient>("reflection.v1.ServerReflection");
const ReflectionV1AlphaClient = clientOf<ReflectionClient>("reflection.v1alpha.ServerReflection");

function check(client: HealthClient, service: string): Promise<HealthResponse> {
  return new Promise((resolve, reject) => {
    client.Check({ service }, { deadline: Date.now() + 10_000 }, (error, response) => {
      if (error) reject(error);
      else resolve(response as HealthResponse);
    });
  });
}

/** Sends the requests on one ServerReflectionInfo stream and resolves with its responses. */
function reflect(client: ReflectionClient, requests: ReflectionRequest[]): Promise<ReflectionResponse[]> {
  return new Promise((resolve, reject) => {
    const responses: ReflectionResponse[] = [];
    const stream = client.ServerReflectionInfo();
    stream.on("data", (response: ReflectionResponse) => responses.push(response));
    stream.on("error", reject);
    stream.on("end", () => resolve(responses));
    for (const request of requests) stream.write(request);
    stream.end();
  });
}

describe("standard health checking and server reflection, loaded on the first call", () => {
  const cleanup: Array<() => Promise<void> | void> = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function startServer(): Promise<ServiceServer> {
    const server = await startGrpcServer("orchestrator.v1.Gateway", GatewayService, {}, "127.0.0.1", 0);
    cleanup.push(() => server.shutdown(1000));
    return server;
  }

  function connect<C extends Client>(Constructor: ClientConstructor<C>, server: ServiceServer): C {
    const client = new Constructor(server.address, credentials.createInsecure());
    cleanup.push(() => client.close());
    return client;
  }

  it("loads neither library, nor proto-loader or protobufjs, until a health or reflection call needs it", async () => {
    // A fresh process, as a service runs: which of them the CommonJS module cache holds, idle, after
    // a shutdown, after a health Check, then after a reflection call (both raw bytes, so the client
    // loads nothing). Uses dist/, which npm test builds first.
    const url = (path: string): string => JSON.stringify(pathToFileURL(join(repoRoot, path)).href);
    const script = `
      import { createRequire } from "node:module";
      const require = createRequire(${url("package.json")});
      const grpc = require("@grpc/grpc-js");
      const { startGrpcServer } = await import(${url("packages/server/dist/util/grpc-server.js")});
      const { GatewayService } = await import(${url("packages/client/dist/protocol/generated/orchestrator/v1/orchestrator.js")});
      const heavy = ["protobufjs", "@grpc/proto-loader", "grpc-health-check", "@grpc/reflection"];
      const loaded = () => heavy.filter((name) => Object.keys(require.cache).some((path) => path.includes("/node_modules/" + name + "/")));
      const start = () => startGrpcServer("orchestrator.v1.Gateway", GatewayService, {}, "127.0.0.1", 0);
      const raw = (bytes) => bytes;
      const report = {};
      const first = await start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      report.idle = loaded();
      await first.shutdown(1000);
      report.afterShutdown = loaded();
      const server = await start();
      const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
      const checked = await new Promise((resolve, reject) => client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check", raw, raw, Buffer.alloc(0), (error, response) => error ? reject(error) : resolve(response)));
      report.check = checked.toString("hex");
      report.afterCheck = loaded();
      const listed = await new Promise((resolve, reject) => {
        const stream = client.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", raw, raw);
        const chunks = [];
        stream.on("data", (chunk) => chunks.push(chunk));
        stream.on("error", reject);
        stream.on("end", () => resolve(Buffer.concat(chunks)));
        stream.end(Buffer.from([0x3a, 0x00])); // list_services: ""
      });
      report.listedGateway = listed.includes("orchestrator.v1.Gateway");
      report.afterReflection = loaded();
      client.close();
      await server.shutdown(1000);
      console.log(JSON.stringify(report));
    `;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: repoRoot, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({
      idle: [],
      afterShutdown: [],
      check: "0801", // HealthCheckResponse { status: SERVING }
      afterCheck: ["protobufjs", "@grpc/proto-loader", "grpc-health-check"],
      listedGateway: true,
      afterReflection: ["protobufjs", "@grpc/proto-loader", "grpc-health-check", "@grpc/reflection"],
    });
  });

  it("answers grpc.health.v1.Health/Check as grpc-health-check does", async () => {
    const server = await startServer();
    const client = connect(HealthClient, server);
    // Concurrent first calls share the one load.
    const [overall, gateway] = await Promise.all([check(client, ""), check(client, "orchestrator.v1.Gateway")]);
    expect(overall).toEqual({ status: "SERVING" });
    expect(gateway).toEqual({ status: "SERVING" });
    await expect(check(client, "orchestrator.v1.Nope")).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: "Health status unknown for service orchestrator.v1.Nope",
    });
  });

  it("tells a Watch stream NOT_SERVING when the server shuts down", async () => {
    const server = await startServer();
    const client = connect(HealthClient, server);
    const watch = client.Watch({ service: "orchestrator.v1.Gateway" });
    watch.on("error", () => undefined); // CANCELLED, once the test cancels it
    const updates = on(watch, "data");
    const next = async (): Promise<unknown> => ((await updates.next()).value as unknown[])[0];
    expect(await next()).toEqual({ status: "SERVING" });
    const stopped = server.shutdown(5000);
    expect(await next()).toEqual({ status: "NOT_SERVING" });
    watch.cancel();
    await updates.return?.();
    await stopped;
  });

  it.each([
    ["v1", ReflectionV1Client],
    ["v1alpha", ReflectionV1AlphaClient],
  ] as const)("answers grpc.reflection.%s list_services and file_containing_symbol from the generated descriptor set", async (_version, Constructor) => {
    const server = await startServer();
    const client = connect(Constructor, server);
    const [listed, file, missing] = await reflect(client, [
      { list_services: "" },
      { file_containing_symbol: "orchestrator.v1.Gateway" },
      { file_containing_symbol: "orchestrator.v1.Nope" },
    ]);
    const services = listed?.list_services_response?.service.map((service) => service.name);
    // Only what this port serves: the Scheduler's and Worker's services are in the contract, not here.
    expect(services?.sort()).toEqual(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", "orchestrator.v1.Gateway"]);
    const descriptors = (file?.file_descriptor_response?.file_descriptor_proto ?? []).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    const gatewayFile = descriptors.find((descriptor) => descriptor.service.some((service) => service.name === "Gateway"));
    expect(gatewayFile?.package).toBe("orchestrator.v1");
    expect(gatewayFile?.service.find((service) => service.name === "Gateway")?.method.map((method) => method.name)).toContain("SubmitTask");
    expect(missing?.message_response).toBe("error_response");
    expect(missing?.error_response?.error_code).toBe(status.NOT_FOUND);
  });
});
