// Security with real processes: API keys with roles, TLS and mutual TLS, and the safe default that
// refuses a non-loopback listener without keys. Each refusal gets its documented status, and the
// service keeps serving afterwards.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client as RawClient, credentials, Metadata, status, type Client, type ServiceDefinition } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GatewayClient, GatewayService, SchedulerClient, SchedulerService, WorkerService, type WorkerMessage,
} from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { OrchestratorError } from "../../packages/client/src/errors/orchestrator-error.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { callRaw, rawCallStatus, statusOf, streamOutcome, type UnaryMethod } from "../helpers/grpc.js";
import { cliPath, Cluster, fixtureHandlers, freePort, repoRoot, ServiceProcess, startService, tempDir, type LogRecord } from "../helpers/processes.js";

const run = promisify(execFile);

const key = (): string => randomBytes(32).toString("hex");
const keys = { client: key(), client2: key(), gateway: key(), worker: key(), unknown: key() };

/** Metadata carrying `authorization: Bearer <key>`, as any gRPC client would send it. */
function bearer(value?: string): Metadata {
  const metadata = new Metadata();
  if (value !== undefined) metadata.set("authorization", `Bearer ${value}`);
  return metadata;
}

function call<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, request: Req, metadata = new Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, { deadline: Date.now() + 10_000 }, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

/** The code an SDK call fails with (0 when it succeeds). */
async function codeOf(work: Promise<unknown>): Promise<number> {
  try {
    await work;
    return status.OK;
  } catch (error) {
    return OrchestratorError.from(error).code;
  }
}

/** The environment without the ORCHESTRATOR_* settings of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ORCHESTRATOR_"))), ...extra };
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, ...args], { env: cleanEnv(env), timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** The next record `service` logs from now on that matches. */
function nextLog(service: ServiceProcess, match: (record: LogRecord) => boolean): Promise<LogRecord> {
  const seen = service.logs.length;
  return service.waitForLog((record) => match(record) && service.logs.indexOf(record) >= seen);
}

const serving = Buffer.from([0x08, 0x01]); // grpc.health.v1.HealthCheckResponse { status: SERVING }
const listServices = Buffer.from([0x3a, 0x00]); // grpc.reflection.v1(alpha).ServerReflectionRequest { list_services: "" }

/** The address a service process logged it listens on. */
function listeningAddress(service: ServiceProcess): string {
  const line = service.logs.find((r) => / service listening on /.test(String(r.msg)));
  return String(line?.msg).split(" ").at(-1) ?? "";
}

/** The standard services every port serves besides its own, with their streaming shapes. */
const standardMethods = [
  { path: "/grpc.health.v1.Health/Check", requestStream: false, responseStream: false, requests: [Buffer.alloc(0)] },
  { path: "/grpc.health.v1.Health/Watch", requestStream: false, responseStream: true, requests: [Buffer.alloc(0)] },
  { path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", requestStream: true, responseStream: true, requests: [listServices] },
  { path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", requestStream: true, responseStream: true, requests: [listServices] },
];

describe("API keys with roles", () => {
  const files = tempDir("orchestrator-keys-");
  const keysFile = join(files.path, "keys.txt");
  const workerKeyFile = join(files.path, "worker.key");
  const apiKeyFile = join(files.path, "client.key");
  writeFileSync(keysFile, [
    "# role key, one per line; two client keys are valid at once (rotation)",
    `client ${keys.client}`, `client ${keys.client2}`, "", `gateway ${keys.gateway}`, `worker:${keys.worker}`,
  ].join("\n"));
  writeFileSync(workerKeyFile, `${keys.worker}\n`);
  writeFileSync(apiKeyFile, `${keys.client2}\n`);
  // One set of keys: the Scheduler reads it from a file, the Gateway from ORCHESTRATOR_KEYS; the worker presents its key from a
  // file, the Gateway from ORCHESTRATOR_GATEWAY_KEY. The legit worker serves the fixtures only, so a
  // task of the bundled examples (echo) could only go to a worker that got in with a wrong key.
  const cluster = new Cluster({
    workers: 1,
    schedulerArgs: ["--keys-file", keysFile],
    gatewayEnv: {
      ORCHESTRATOR_KEYS: `client:${keys.client},client:${keys.client2},gateway:${keys.gateway},worker:${keys.worker}`, ORCHESTRATOR_GATEWAY_KEY: keys.gateway,
    },
    workerArgs: ["--worker-key-file", workerKeyFile, "--no-examples"],
    client: { apiKey: keys.client },
  });
  const extra: ServiceProcess[] = [];
  let gateway: GatewayClient;
  let scheduler: SchedulerClient;

  beforeAll(async () => {
    await cluster.start();
    gateway = new GatewayClient(cluster.gatewayAddress, credentials.createInsecure());
    scheduler = new SchedulerClient(cluster.schedulerAddress, credentials.createInsecure());
  });

  afterAll(async () => {
    gateway?.close();
    scheduler?.close();
    await Promise.all(extra.map((service) => service.stop("SIGKILL")));
    await cluster.stop();
    files.remove();
  });

  it("lets a client key submit and follow a task through the Gateway, the Scheduler (gateway key) and a worker (worker key)", async () => {
    const scheduled = cluster.scheduler.logs.find((r) => r.msg === `Scheduler service listening on ${cluster.schedulerAddress}`);
    expect(scheduled).toMatchObject({ auth: "on", tls: "off" });
    const { taskId } = await cluster.client.submit({ name: "whoami" });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect((JSON.parse(Buffer.from(terminal.result ?? "").toString()) as { pid: number }).pid).toBe(cluster.workers[0]?.pid);
  });

  it("answers UNAUTHENTICATED without a key, on unary, server-streaming and bidi calls alike", async () => {
    const { taskId } = await cluster.client.submit({ name: "whoami" });
    const anonymous = new OrchestratorClient({ address: cluster.gatewayAddress });
    try {
      expect(await codeOf(anonymous.get(taskId))).toBe(status.UNAUTHENTICATED);
      expect(await codeOf(anonymous.workers())).toBe(status.UNAUTHENTICATED);
      expect(await codeOf(anonymous.waitForResult(taskId))).toBe(status.UNAUTHENTICATED);
      expect(await codeOf(anonymous.submit({ name: "whoami" }))).toBe(status.UNAUTHENTICATED);
    } finally {
      anonymous.close();
    }
    const refused = await statusOf(call(gateway, gateway.getTask, { taskId }));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.details).toMatch(/authorization: Bearer <key>/);
    // The Scheduler as well: its task methods and its worker stream.
    expect((await statusOf(call(scheduler, scheduler.getTask, { taskId }))).code).toBe(status.UNAUTHENTICATED);
    expect((await streamOutcome(scheduler.connect())).code).toBe(status.UNAUTHENTICATED);
    // The service keeps serving.
    expect((await cluster.client.waitForResult(taskId)).state).toBe("succeeded");
  });

  it("answers UNAUTHENTICATED to an unknown key and to a malformed authorization header", async () => {
    const stranger = new OrchestratorClient({ address: cluster.gatewayAddress, apiKey: keys.unknown });
    try {
      expect(await codeOf(stranger.workers())).toBe(status.UNAUTHENTICATED);
      expect(await codeOf(stranger.submit({ name: "whoami" }))).toBe(status.UNAUTHENTICATED);
    } finally {
      stranger.close();
    }
    const basic = new Metadata();
    basic.set("authorization", `Basic ${keys.client}`);
    expect((await statusOf(call(gateway, gateway.listWorkers, {}, basic))).code).toBe(status.UNAUTHENTICATED);
    const unknownAtScheduler = await statusOf(call(scheduler, scheduler.listWorkers, {}, bearer(keys.unknown)));
    expect(unknownAtScheduler.code).toBe(status.UNAUTHENTICATED);
    expect(await cluster.client.workers()).toHaveLength(1);
  });

  it("accepts two client keys at once (rotation), from the SDK and from a key file", async () => {
    const rotated = new OrchestratorClient({ address: cluster.gatewayAddress, apiKey: keys.client2 });
    try {
      const { taskId } = await rotated.submit({ name: "whoami" });
      expect((await rotated.waitForResult(taskId)).state).toBe("succeeded");
      // The old key still works on the same task.
      expect((await cluster.client.get(taskId)).state).toBe("succeeded");
      const viaFile = await cli(["get", taskId, "--json", "--gateway", cluster.gatewayAddress, "--api-key-file", apiKeyFile]);
      expect(viaFile.code, viaFile.stderr).toBe(0);
      expect(JSON.parse(viaFile.stdout)).toMatchObject({ task_id: taskId, state: "succeeded" });
      const viaEnv = await cli(["get", taskId, "--gateway", cluster.gatewayAddress], { ORCHESTRATOR_API_KEY: keys.client });
      expect(viaEnv.code, viaEnv.stderr).toBe(0);
      const without = await cli(["get", taskId, "--gateway", cluster.gatewayAddress]);
      expect(without.code).toBe(1);
      expect(without.stderr).toMatch(/^error \(Unauthenticated\): /);
    } finally {
      rotated.close();
    }
  });

  it("answers PERMISSION_DENIED to a known key of the wrong role: worker or gateway key at the Gateway, client key at the Scheduler", async () => {
    for (const wrong of [keys.worker, keys.gateway]) {
      const client = new OrchestratorClient({ address: cluster.gatewayAddress, apiKey: wrong });
      try {
        expect(await codeOf(client.submit({ name: "whoami" }))).toBe(status.PERMISSION_DENIED);
        expect(await codeOf(client.workers())).toBe(status.PERMISSION_DENIED);
      } finally {
        client.close();
      }
    }
    const denied = await statusOf(call(scheduler, scheduler.submitTask, { name: "whoami", description: "", payload: Buffer.alloc(0), idempotencyKey: "", traceContext: {} }, bearer(keys.client)));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(denied.details).toMatch(/client key may not call orchestrator\.v1\.Scheduler\/SubmitTask; it needs a gateway key/);
    // A worker key may open the worker stream, but not call task methods; a gateway key the reverse.
    expect((await statusOf(call(scheduler, scheduler.listWorkers, {}, bearer(keys.worker)))).code).toBe(status.PERMISSION_DENIED);
    expect((await streamOutcome(scheduler.connect(bearer(keys.gateway)))).code).toBe(status.PERMISSION_DENIED);
    expect((await call(scheduler, scheduler.listWorkers, {}, bearer(keys.gateway))).workers).toHaveLength(1);
    expect(await cluster.client.workers()).toHaveLength(1);
  });

  it.each([
    ["has no key", {}, "Unauthenticated"],
    ["presents a client key", { ORCHESTRATOR_GATEWAY_KEY: keys.client2 }, "PermissionDenied"],
  ] as const)("reports a Gateway whose own key the Scheduler refuses (it %s) as INTERNAL to its clients, telling them nothing of that key; the Gateway logs why", async (_what, gatewayKey, reason) => {
    const port = await freePort();
    const misconfigured = await startService("gateway", ["--port", String(port), "--scheduler", cluster.schedulerAddress], { ORCHESTRATOR_KEYS: `client:${keys.client}`, ...gatewayKey });
    extra.push(misconfigured);
    const client = new OrchestratorClient({ address: `127.0.0.1:${port}`, apiKey: keys.client, pipeline: false });
    const piped = new OrchestratorClient({ address: `127.0.0.1:${port}`, apiKey: keys.client });
    try {
      const refusals = await Promise.all([client.workers(), client.submit({ name: "whoami" }), piped.submit({ name: "whoami" })]
        .map((work) => work.then(() => undefined, (error: unknown) => OrchestratorError.from(error))));
      for (const refused of refusals) {
        expect(refused?.code).toBe(status.INTERNAL);
        expect(refused?.rawMessage).toBe("the gateway could not complete the call because of an error on its side; its operator finds the cause in the gateway's log");
      }
    } finally {
      client.close();
      piped.close();
    }
    const logged = await misconfigured.waitForMessage(/^The scheduler refused the Gateway's key/);
    expect(logged).toMatchObject({ level: "error", code: status[reason === "Unauthenticated" ? "UNAUTHENTICATED" : "PERMISSION_DENIED"] });
    expect(String(logged.reason)).toMatch(reason === "Unauthenticated" ? /needs an API key/ : /a client key may not call orchestrator\.v1\.Scheduler\/\w+; it needs a gateway key/);
    await misconfigured.stop("SIGKILL");
    expect(misconfigured.output.join("\n")).not.toContain(keys.client2);
  });

  it("keeps a worker with a client key or an unknown key out: PERMISSION_DENIED / UNAUTHENTICATED, and it receives no task", async () => {
    // A raw worker stream with a client key, register message and all.
    const stream = scheduler.connect(bearer(keys.client));
    const register: WorkerMessage = { kind: { $case: "register", register: { workerId: "intruder", taskNames: ["echo"], slots: 4, prefetch: 0, version: "0.1.0", running: [] } } };
    stream.write(register);
    const outcome = await streamOutcome(stream);
    expect(outcome.code).toBe(status.PERMISSION_DENIED);
    expect(outcome.messages).toEqual([]);

    // Real worker processes serving the bundled examples (echo), which the legit worker does not serve.
    const intruders: Array<{ env: Record<string, string>; code: string }> = [
      { env: { ORCHESTRATOR_WORKER_KEY: keys.client }, code: "PermissionDenied" },
      { env: { ORCHESTRATOR_WORKER_KEY: keys.unknown }, code: "Unauthenticated" },
      { env: {}, code: "Unauthenticated" },
    ];
    const started: ServiceProcess[] = [];
    for (const intruder of intruders) {
      const worker = await startService("worker", ["--port", String(await freePort()), "--scheduler", cluster.schedulerAddress, "--handlers", fixtureHandlers], intruder.env);
      extra.push(worker);
      started.push(worker);
      const refusal = await worker.waitForMessage(/^The scheduler refused this worker's key/);
      expect(refusal.code).toBe(intruder.code);
    }
    const { taskId } = await cluster.client.submit({ name: "echo", payload: "only an intruder could run this" });
    // Each intruder tries again after the submit, and is refused again.
    await Promise.all(started.map((worker) => nextLog(worker, (r) => String(r.msg).startsWith("The scheduler refused this worker's key"))));
    expect((await cluster.client.get(taskId)).state).toBe("queued");
    expect((await cluster.client.workers()).map((w) => w.workerId)).toEqual([cluster.workers[0]?.logs.find((r) => r.worker_id)?.worker_id]);
    for (const worker of started) {
      expect(worker.logs.some((r) => r.msg === "Worker registered with the scheduler" || r.msg === "Task started")).toBe(false);
      await worker.stop("SIGKILL");
    }
    // The same task runs as soon as a worker with a worker key serves echo: it was runnable all along.
    await cluster.addWorker(["--worker-key-file", workerKeyFile]);
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect(Buffer.from(terminal.result ?? "").toString()).toBe("only an intruder could run this");
  });

  it("leaves health checks and server reflection open (buf curl needs no key for HealthCheck, a key for the rest)", async () => {
    expect(await call(gateway, gateway.healthCheck, {})).toEqual({ healthy: true, version: "0.1.0" });
    expect(await call(scheduler, scheduler.healthCheck, {})).toEqual({ healthy: true, version: "0.1.0" });
    expect(await callRaw(gateway, "/grpc.health.v1.Health/Check")).toEqual(serving);
    const buf = join(repoRoot, "node_modules/.bin/buf");
    const base = ["curl", "--protocol", "grpc", "--http2-prior-knowledge"];
    const health = await run(buf, [...base, `http://${cluster.gatewayAddress}/orchestrator.v1.Gateway/HealthCheck`], { timeout: 20_000 });
    expect(JSON.parse(health.stdout)).toEqual({ healthy: true, version: "0.1.0" });
    const listed = await run(buf, [...base, "-H", `Authorization: Bearer ${keys.client}`, `http://${cluster.gatewayAddress}/orchestrator.v1.Gateway/ListWorkers`], { timeout: 20_000 });
    expect((JSON.parse(listed.stdout) as { workers: unknown[] }).workers.length).toBeGreaterThan(0);
    await expect(run(buf, [...base, `http://${cluster.gatewayAddress}/orchestrator.v1.Gateway/ListWorkers`], { timeout: 20_000 })).rejects.toThrow(/unauthenticated/i);
  });

  it("bounds the metadata of a call: over 16 KiB is RESOURCE_EXHAUSTED, and the Gateway keeps serving", async () => {
    const large = bearer(keys.client);
    large.set("x-padding", "a".repeat(17 * 1024));
    const refused = await statusOf(call(gateway, gateway.listWorkers, {}, large));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/the limit is 16384/);
    const fits = bearer(keys.client);
    fits.set("x-padding", "a".repeat(8 * 1024));
    expect((await call(gateway, gateway.listWorkers, {}, fits)).workers.length).toBeGreaterThan(0);
  });

  it("bounds the metadata of health checks and server reflection too, on every service: over 16 KiB is RESOURCE_EXHAUSTED", async () => {
    const ports = [cluster.gatewayAddress, cluster.schedulerAddress, listeningAddress(cluster.workers[0] as ServiceProcess)];
    for (const address of ports) {
      const client = new RawClient(address, credentials.createInsecure());
      try {
        for (const method of standardMethods) {
          const large = new Metadata();
          large.set("x-padding", "a".repeat(17 * 1024));
          const refused = await rawCallStatus(client, method, large, method.requests);
          expect(refused, `${address}${method.path}`).toEqual({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/the limit is 16384/) as unknown });
        }
        // The same calls with metadata that fits: Check and reflection answer (a Watch stream stays open, so it is left out).
        const fits = new Metadata();
        fits.set("x-padding", "a".repeat(8 * 1024));
        for (const method of standardMethods.filter((m) => !m.path.endsWith("/Watch"))) {
          expect((await rawCallStatus(client, method, fits.clone(), method.requests)).code, `${address}${method.path}`).toBe(status.OK);
        }
      } finally {
        client.close();
      }
    }
  });

  it("checks the key of every method of every service against the access policy: no key, a key of the wrong role, a key of the right role", async () => {
    // A worker whose own listener checks keys (any role may call GetStatus).
    const workerPort = await freePort();
    const keyedWorker = await startService("worker", [
      "--port", String(workerPort), "--scheduler", cluster.schedulerAddress, "--worker-key-file", workerKeyFile, "--no-examples", "--handlers", fixtureHandlers,
    ], { ORCHESTRATOR_KEYS: `client:${keys.client}` });
    extra.push(keyedWorker);
    // Who may call what, written out here rather than read from the policy, so the test checks it.
    const services: Array<{ address: string; definition: ServiceDefinition; roleOf: (method: string) => "open" | "any" | keyof typeof keys; wrong: string }> = [
      { address: cluster.gatewayAddress, definition: GatewayService, roleOf: (m) => (m === "HealthCheck" ? "open" : "client"), wrong: keys.worker },
      { address: cluster.schedulerAddress, definition: SchedulerService, roleOf: (m) => (m === "HealthCheck" ? "open" : m === "Connect" ? "worker" : "gateway"), wrong: keys.client },
      { address: `127.0.0.1:${workerPort}`, definition: WorkerService, roleOf: (m) => (m === "HealthCheck" ? "open" : "any"), wrong: keys.unknown },
    ];
    let checked = 0;
    for (const { address, definition, roleOf, wrong } of services) {
      const client = new RawClient(address, credentials.createInsecure());
      try {
        for (const method of Object.values(definition)) {
          const role = roleOf(method.path.slice(method.path.lastIndexOf("/") + 1));
          const rightKey = role === "open" || role === "any" ? keys.client : keys[role];
          const withoutKey = await rawCallStatus(client, method, new Metadata(), undefined, 5_000);
          const withWrongKey = await rawCallStatus(client, method, bearer(wrong), undefined, 5_000);
          const withRightKey = await rawCallStatus(client, method, bearer(rightKey), undefined, 5_000);
          const refusals = [status.UNAUTHENTICATED, status.PERMISSION_DENIED];
          if (role === "open") {
            expect(refusals, `${method.path} without a key`).not.toContain(withoutKey.code);
          } else {
            expect(withoutKey.code, `${method.path} without a key`).toBe(status.UNAUTHENTICATED);
            expect(withWrongKey.code, `${method.path} with a wrong key`).toBe(role === "any" ? status.UNAUTHENTICATED : status.PERMISSION_DENIED);
          }
          // Past the guard: the handler answers (OK, or its own complaint about the empty request).
          expect(refusals, `${method.path} with a ${role} key: ${withRightKey.details}`).not.toContain(withRightKey.code);
          checked += 1;
        }
      } finally {
        client.close();
      }
    }
    expect(checked).toBe(Object.keys(GatewayService).length + Object.keys(SchedulerService).length + Object.keys(WorkerService).length);
    await keyedWorker.stop("SIGKILL");
  });

  it("never writes a key to any log", () => {
    const output = [cluster.scheduler, cluster.gateway, ...cluster.workers, ...extra].flatMap((service) => service.output).join("\n");
    expect(output).toMatch(/Refused a call/);
    for (const value of Object.values(keys)) expect(output).not.toContain(value);
  });
});

describe("never echoing a secret", () => {
  const key = randomBytes(32).toString("hex");
  const pem = `-----BEGIN PRIVATE KEY-----\n${randomBytes(48).toString("base64")}\n-----END PRIVATE KEY-----\n`;

  // Each flag that takes a file's path, given the secret itself (the usual slip), and what the error should say instead.
  const slips: Array<{ args: string[]; env?: Record<string, string>; flag: string; hint: RegExp }> = [
    { args: ["workers", "--api-key-file", key], flag: "--api-key-file", hint: /takes the path of a file that holds the key; to give the key itself, set ORCHESTRATOR_API_KEY/ },
    { args: ["workers"], env: { ORCHESTRATOR_API_KEY_FILE: key }, flag: "--api-key-file", hint: /set ORCHESTRATOR_API_KEY$/m },
    { args: ["gateway", "--port", "0", "--gateway-key-file", key], flag: "--gateway-key-file", hint: /to give the key itself, set ORCHESTRATOR_GATEWAY_KEY/ },
    { args: ["worker", "--port", "0", "--worker-key-file", key], flag: "--worker-key-file", hint: /to give the key itself, set ORCHESTRATOR_WORKER_KEY/ },
    { args: ["gateway", "--port", "0", "--keys-file", `client:${key}`], flag: "--keys-file", hint: /to give the keys themselves, set ORCHESTRATOR_KEYS=/ },
    { args: ["gateway", "--port", "0", "--tls-cert", pem, "--tls-key", pem], flag: "--tls-cert", hint: /takes the path of a PEM file/ },
    { args: ["gateway", "--port", "0", "--tls-key", pem, "--tls-cert", join(repoRoot, "package.json")], flag: "--tls-key", hint: /takes the path of a PEM file/ },
    { args: ["scheduler", "--port", "0", "--tls-client-ca", pem], flag: "--tls-client-ca", hint: /takes the path of a PEM file/ },
    { args: ["worker", "--port", "0", "--scheduler-key", pem, "--scheduler-cert", pem], flag: "--scheduler-cert", hint: /takes the path of a PEM file/ },
    { args: ["workers", "--tls-ca", pem], flag: "--tls-ca", hint: /takes the path of a PEM file/ },
    { args: ["workers", "--tls-key", pem, "--tls-cert", join(repoRoot, "package.json")], flag: "--tls-key", hint: /takes the path of a PEM file/ },
  ];

  it.each(slips)("says a file given to $flag cannot be read, without printing what was given ($args.0)", async ({ args, env, flag, hint }) => {
    const result = await cli(args, env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error (InvalidArgument): cannot read the file given to ${flag} (or ORCHESTRATOR_`);
    expect(result.stderr).toMatch(hint);
    const output = result.stdout + result.stderr;
    expect(output).not.toContain(key);
    for (const line of pem.split("\n").filter((l) => l.length > 0)) expect(output).not.toContain(line);
  });

  it("keeps a PEM given to the SDK as a string (a path, by its type) out of the error", () => {
    let message = "";
    try {
      new OrchestratorClient({ address: "127.0.0.1:1", tls: { ca: pem } }).close();
    } catch (error) {
      message = OrchestratorError.from(error).rawMessage;
    }
    expect(message).toMatch(/^cannot read the file given to the tls\.ca option: .*holds PEM text: pass the PEM as a Buffer/);
    for (const line of pem.split("\n").filter((l) => l.length > 0)) expect(message).not.toContain(line);
  });
});

describe("TLS and mutual TLS", () => {
  const dir = tempDir("orchestrator-pki-");
  let pki: TestPki;
  let cluster: Cluster;
  const extra: ServiceProcess[] = [];

  beforeAll(async () => {
    pki = makeTestPki(dir.path);
    // The Scheduler requires client certificates (mutual TLS) from the Gateway and the workers; the
    // Gateway serves TLS to clients. The Gateway is configured by environment, the rest by flags.
    cluster = new Cluster({
      workers: 1,
      schedulerArgs: ["--tls-cert", pki.server.cert, "--tls-key", pki.server.key, "--tls-client-ca", pki.ca.cert],
      gatewayEnv: {
        ORCHESTRATOR_TLS_CERT: pki.server.cert, ORCHESTRATOR_TLS_KEY: pki.server.key,
        ORCHESTRATOR_SCHEDULER_TLS_CA: pki.ca.cert, ORCHESTRATOR_SCHEDULER_TLS_CERT: pki.client.cert, ORCHESTRATOR_SCHEDULER_TLS_KEY: pki.client.key,
      },
      workerArgs: ["--scheduler-ca", pki.ca.cert, "--scheduler-cert", pki.client.cert, "--scheduler-key", pki.client.key],
      client: { tls: { ca: readFileSync(pki.ca.cert) } },
    });
    await cluster.start();
  });

  afterAll(async () => {
    await Promise.all(extra.map((service) => service.stop("SIGKILL")));
    await cluster?.stop();
    dir.remove();
  });

  /** A worker process whose client certificate the Scheduler must refuse. */
  async function refusedWorker(cert: { cert: string; key: string }): Promise<ServiceProcess> {
    const worker = await startService("worker", [
      "--port", String(await freePort()), "--scheduler", cluster.schedulerAddress, "--handlers", fixtureHandlers,
      "--scheduler-ca", pki.ca.cert, "--scheduler-cert", cert.cert, "--scheduler-key", cert.key,
    ]);
    extra.push(worker);
    await worker.waitForMessage("Lost the scheduler stream; reconnecting");
    // And once more, so it was refused again after its first try.
    await nextLog(worker, (r) => r.msg === "Lost the scheduler stream; reconnecting");
    return worker;
  }

  it("runs a task with a client that trusts the CA, the Gateway and a worker reaching the Scheduler over mutual TLS", async () => {
    expect(cluster.scheduler.logs.find((r) => String(r.msg).startsWith("Scheduler service listening"))).toMatchObject({ tls: "mutual", auth: "off" });
    expect(cluster.gateway.logs.find((r) => String(r.msg).startsWith("Gateway service listening"))).toMatchObject({ tls: "tls" });
    const { taskId } = await cluster.client.submit({ name: "whoami" });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect((JSON.parse(Buffer.from(terminal.result ?? "").toString()) as { pid: number }).pid).toBe(cluster.workers[0]?.pid);
    // The same CA given as a path, as the CLI does.
    const viaPath = new OrchestratorClient({ address: cluster.gatewayAddress, tls: { ca: pki.ca.cert } });
    try {
      expect((await viaPath.get(taskId)).state).toBe("succeeded");
    } finally {
      viaPath.close();
    }
  });

  it("fails a plaintext client to a TLS listener with UNAVAILABLE, and a client that does not trust the CA too; the Gateway keeps serving", async () => {
    const plaintext = new OrchestratorClient({ address: cluster.gatewayAddress });
    const systemRoots = new OrchestratorClient({ address: cluster.gatewayAddress, tls: {} });
    try {
      expect(await codeOf(plaintext.workers())).toBe(status.UNAVAILABLE);
      expect(await codeOf(plaintext.submit({ name: "whoami" }))).toBe(status.UNAVAILABLE);
      expect(await codeOf(systemRoots.workers())).toBe(status.UNAVAILABLE);
    } finally {
      plaintext.close();
      systemRoots.close();
    }
    const raw = new SchedulerClient(cluster.schedulerAddress, credentials.createInsecure());
    try {
      expect((await statusOf(call(raw, raw.healthCheck, {}))).code).toBe(status.UNAVAILABLE);
    } finally {
      raw.close();
    }
    expect(await cluster.client.workers()).toHaveLength(1);
  });

  it("refuses a client without a certificate at the mutual-TLS Scheduler, and serves one with a good certificate", async () => {
    const ca = readFileSync(pki.ca.cert);
    const noCert = new SchedulerClient(cluster.schedulerAddress, credentials.createSsl(ca));
    const withCert = new SchedulerClient(cluster.schedulerAddress, credentials.createSsl(ca, readFileSync(pki.client.key), readFileSync(pki.client.cert)));
    try {
      expect((await statusOf(call(noCert, noCert.healthCheck, {}))).code).toBe(status.UNAVAILABLE);
      expect(await call(withCert, withCert.healthCheck, {})).toEqual({ healthy: true, version: "0.1.0" });
    } finally {
      noCert.close();
      withCert.close();
    }
  });

  it.each([
    ["signed by a CA the Scheduler does not trust", "untrustedClient"],
    ["that has expired", "expiredClient"],
  ] as const)("keeps out a worker whose certificate is %s; the Scheduler keeps serving", async (_what, which) => {
    const worker = await refusedWorker(pki[which]);
    expect(worker.logs.some((r) => r.msg === "Worker registered with the scheduler")).toBe(false);
    expect(await cluster.client.workers()).toHaveLength(1);
    const { taskId } = await cluster.client.submit({ name: "whoami" });
    const terminal = await cluster.client.waitForResult(taskId);
    expect(terminal.state).toBe("succeeded");
    expect((JSON.parse(Buffer.from(terminal.result ?? "").toString()) as { pid: number }).pid).toBe(cluster.workers[0]?.pid);
    expect(worker.logs.some((r) => r.msg === "Worker registered with the scheduler" || r.msg === "Task started")).toBe(false);
    await worker.stop("SIGKILL");
  });

  it("lets the CLI reach the TLS Gateway with --tls-ca, and fails plaintext with UNAVAILABLE", async () => {
    const trusted = await cli(["workers", "--json", "--gateway", cluster.gatewayAddress, "--tls-ca", pki.ca.cert]);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(JSON.parse(trusted.stdout)).toHaveLength(1);
    const viaEnv = await cli(["workers", "--json", "--gateway", cluster.gatewayAddress], { ORCHESTRATOR_CLIENT_TLS_CA: pki.ca.cert });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const plaintext = await cli(["workers", "--gateway", cluster.gatewayAddress]);
    expect(plaintext.code).toBe(1);
    expect(plaintext.stderr).toMatch(/^error \(Unavailable\): /);
  });
});

describe("safe defaults", () => {
  const data = tempDir("orchestrator-exposure-");
  const started: ServiceProcess[] = [];

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop("SIGKILL")));
    data.remove();
  });

  it.each(["scheduler", "gateway", "worker"] as const)("refuses to start the %s on 0.0.0.0 without keys, saying why and how to fix it", async (command) => {
    const dataDir = join(data.path, `refused-${command}`);
    const service = new ServiceProcess(command, ["--host", "0.0.0.0", "--port", String(await freePort()), ...(command === "scheduler" ? ["--data-dir", dataDir] : [])]);
    const exit = await service.exited;
    expect(exit.code).toBe(1);
    const output = service.output.join("\n");
    expect(output).toMatch(/^error \(FailedPrecondition\): refusing to start orchestrator\.v1\.\w+ on 0\.0\.0\.0: it is not a loopback address and no API keys are configured/m);
    expect(output).toMatch(/ORCHESTRATOR_KEYS=/);
    expect(output).toMatch(/--insecure \(ORCHESTRATOR_INSECURE=1\)/);
    expect(output).not.toMatch(/listening on/);
    // Refused before anything was opened.
    expect(existsSync(join(dataDir, "orchestrator.db"))).toBe(false);
  });

  it("starts on 0.0.0.0 with --insecure, with ORCHESTRATOR_INSECURE=1, or with keys configured", async () => {
    const port = await freePort();
    const scheduler = await startService("scheduler", ["--host", "0.0.0.0", "--port", String(port), "--data-dir", data.path, "--insecure"]);
    started.push(scheduler);
    const local = new SchedulerClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      expect(await call(local, local.healthCheck, {})).toEqual({ healthy: true, version: "0.1.0" });
    } finally {
      local.close();
    }
    started.push(await startService("gateway", ["--host", "0.0.0.0", "--port", String(await freePort())], { ORCHESTRATOR_INSECURE: "1" }));
    const keyed = await startService("gateway", ["--host", "0.0.0.0", "--port", String(await freePort())], { ORCHESTRATOR_KEYS: `client:${keys.client}` });
    started.push(keyed);
    // Keys without TLS on an open address: it starts, and warns that keys travel in plaintext.
    await keyed.waitForMessage(/^API keys travel in plaintext/);
  });

  it("keeps `orchestrator dev` working with only client keys: its Worker and Gateway get keys of their own", async () => {
    const ports = { gateway: await freePort(), scheduler: await freePort(), worker: await freePort() };
    const dev = new ServiceProcess("dev", [
      "--gateway-port", String(ports.gateway), "--scheduler-port", String(ports.scheduler), "--worker-port", String(ports.worker),
      "--data-dir", join(data.path, "dev"),
    ], { ORCHESTRATOR_KEYS: `client:${keys.client}` });
    started.push(dev);
    await dev.waitForMessage("Worker registered with the scheduler");
    await dev.waitForMessage(`Gateway service listening on 127.0.0.1:${ports.gateway}`);
    const client = new OrchestratorClient({ address: `127.0.0.1:${ports.gateway}`, apiKey: keys.client });
    const anonymous = new OrchestratorClient({ address: `127.0.0.1:${ports.gateway}` });
    try {
      const { taskId } = await client.submit({ name: "echo", payload: "hi" });
      expect((await client.waitForResult(taskId)).state).toBe("succeeded");
      expect(await codeOf(anonymous.get(taskId))).toBe(status.UNAUTHENTICATED);
    } finally {
      client.close();
      anonymous.close();
    }
    expect(dev.output.join("\n")).not.toContain(keys.client);
  });

  it("rejects a keys file with an unknown role or a short key, naming the line but not the key", async () => {
    const file = join(data.path, "bad-keys.txt");
    const short = "tooshort";
    writeFileSync(file, `client ${keys.client}\nclient ${short}\n`);
    const service = new ServiceProcess("gateway", ["--port", String(await freePort()), "--keys-file", file]);
    expect((await service.exited).code).toBe(1);
    const output = service.output.join("\n");
    expect(output).toMatch(/the key of line 2 of .*bad-keys\.txt is 8 characters; a key needs at least 16/);
    expect(output).not.toContain(short);
    writeFileSync(file, `admin ${keys.client}\n`);
    const role = new ServiceProcess("gateway", ["--port", String(await freePort()), "--keys-file", file]);
    expect((await role.exited).code).toBe(1);
    expect(role.output.join("\n")).toMatch(/line 1 of .*bad-keys\.txt has the unknown role "admin"; the roles are client, gateway, worker, metrics/);
    expect(role.output.join("\n")).not.toContain(keys.client);
  });
});
