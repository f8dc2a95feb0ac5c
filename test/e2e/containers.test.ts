// README "Run it in containers", run for real: the Dockerfile built from a local base (no image
// registry is reachable here), the cluster of compose.yaml with the secrets deploy/make-secrets.sh
// makes, the guide's flow through the published Gateway port with TLS and a key, and one Scheduler
// container SIGKILLed while tasks run. Everything the test made is removed at the end.
import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorClient } from "../../packages/client/src/client.js";
import { runCli } from "../helpers/cli.js";
import { danglingImages, docker, dockerCompose, importLocalBase, run, startDockerDaemon, type DockerDaemon } from "../helpers/containers.js";
import { freePort, tempDir } from "../helpers/processes.js";
import { readJournal, until } from "../helpers/scale-out.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const runId = randomBytes(4).toString("hex");
const project = `orchestratortest${runId}`;
const images = { base: `orchestrator-test-base:${runId}`, app: `orchestrator-test:${runId}`, postgres: `orchestrator-test-postgres:${runId}` };
const files = tempDir("orchestrator-containers-");
const secrets = join(files.path, "secrets");
const journalDir = join(files.path, "journal");

let daemon: DockerDaemon | undefined;
let danglingBefore = new Set<string>();
let composeEnv: NodeJS.ProcessEnv = {};
let gatewayAddress = "";

function compose(args: string[], timeoutMs = 300_000): Promise<string> {
  return run(dockerCompose, ["-p", project, "-f", join(repo, "compose.yaml"), "-f", join(repo, "test/fixtures/containers/compose.test.yaml"), ...args], { env: composeEnv, cwd: repo, timeoutMs });
}

beforeAll(async () => {
  daemon = await startDockerDaemon();
  if (daemon.unavailable !== null) return;
  danglingBefore = await danglingImages();
  await importLocalBase(images.base);
  await run(docker, ["build", "-q", "--build-arg", `BASE=${images.base}`, "-t", images.app, "."], { cwd: repo, timeoutMs: 900_000 });
  await run(docker, ["build", "-q", "--build-arg", `BASE=${images.base}`, "-t", images.postgres, "test/fixtures/containers/postgres"], { cwd: repo });
  await run("sh", [join(repo, "deploy/make-secrets.sh"), secrets]);
  await run("mkdir", ["-p", journalDir]);
  // The workers run as uid 10001 and append to the journal.
  chmodSync(journalDir, 0o777);
  const [gateway, scheduler, worker] = [await freePort(), await freePort(), await freePort()];
  gatewayAddress = `127.0.0.1:${gateway}`;
  composeEnv = {
    PATH: process.env.PATH,
    ORCHESTRATOR_IMAGE: images.app,
    ORCHESTRATOR_POSTGRES_IMAGE: images.postgres,
    ORCHESTRATOR_SECRETS: secrets,
    ORCHESTRATOR_GATEWAY_PORT: String(gateway),
    ORCHESTRATOR_SCHEDULER_PORT: String(scheduler),
    ORCHESTRATOR_WORKER_PORTS: `${worker}-${worker + 4}`,
    ORCHESTRATOR_TEST_FIXTURES: join(repo, "test/fixtures"),
    ORCHESTRATOR_TEST_JOURNAL_DIR: journalDir,
  };
  await compose(["up", "-d", "--no-build"]);
}, 1_800_000);

afterAll(async () => {
  try {
    if (daemon?.unavailable === null) {
      await compose(["down", "-v", "--remove-orphans", "--timeout", "5"]).catch((error: unknown) => console.error(error));
      await run(docker, ["rmi", "-f", ...Object.values(images)]).catch((error: unknown) => console.error(error));
      const leftOver = [...(await danglingImages())].filter((id) => !danglingBefore.has(id));
      if (leftOver.length > 0) await run(docker, ["rmi", "-f", ...leftOver]).catch((error: unknown) => console.error(error));
    }
  } finally {
    await daemon?.stop();
    files.remove();
  }
}, 300_000);

describe("the image and compose.yaml", () => {
  it("run the guide's flow with TLS and keys through the published Gateway, finish every task exactly once when a Scheduler container is SIGKILLed, and scale the workers", async (context) => {
    if (daemon?.unavailable !== null) {
      console.warn(`skipped: no Docker daemon: ${daemon?.unavailable}`);
      context.skip();
    }
    const tls = ["--tls-ca", join(secrets, "ca.crt")];
    // Compose starts the containers; the Gateway is ready when its health check says so.
    await until(async () => (await runCli(["health", "--address", gatewayAddress, ...tls])).code === 0, 60_000, "the Gateway's health check to answer SERVING");
    const containers = await compose(["ps"]);
    for (const service of ["postgres", "scheduler-a", "scheduler-b", "gateway", "worker_1", "worker_2"]) expect(containers).toContain(`${project}_${service}`);

    // The guide's flow, as the README runs it: submit, follow the progress bar to the result.
    const submitted = await runCli(["submit", "data-processing-job", "--payload", '{"records": 3}', "--wait", "--gateway", gatewayAddress, ...tls, "--api-key-file", join(secrets, "client.apikey")]);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toContain("succeeded on attempt 1");

    const client = new OrchestratorClient({ address: gatewayAddress, apiKey: readFileSync(join(secrets, "client.apikey"), "utf8").trim(), tls: { ca: join(secrets, "ca.crt") } });
    try {
      // Tasks running when Scheduler A dies, and tasks submitted after.
      const spec = { name: "journaled", payload: { ms: 1500 }, maxRetries: 5 };
      const before = await Promise.all(Array.from({ length: 20 }, () => client.submit(spec)));
      const journal = join(journalDir, "journal.log");
      await until(() => readJournal(journal).filter((entry) => entry.kind === "start").length >= 4, 20_000, "handlers to start");
      await run(docker, ["kill", "--signal", "SIGKILL", `${project}_scheduler-a_1`]);
      const after = await Promise.all(Array.from({ length: 20 }, () => until.retrying(() => client.submit({ ...spec, payload: { ms: 100 } }), 30_000, "submit after the kill")));
      const ids = [...before, ...after].map((submitted) => submitted.taskId);
      const outcomes = await Promise.all(ids.map((id) => client.waitForResult(id)));
      expect(outcomes.map((outcome) => outcome.state)).toEqual(ids.map(() => "succeeded"));
      const done = readJournal(journal).filter((entry) => entry.kind === "done");
      for (const id of ids) expect(done.filter((entry) => entry.taskId === id), `handler runs to the end of ${id}`).toHaveLength(1);
    } finally {
      client.close();
    }

    // More workers: a third container that passes its health check (attached, serving).
    await compose(["up", "-d", "--no-build", "--no-recreate", "--scale", "worker=3"]);
    const third = `${project}_worker_3`;
    await until(async () => (await run(docker, ["inspect", "--format", "{{.State.Health.Status}}", third])).trim() === "healthy", 60_000, `${third} to be healthy`);
  }, 300_000);
});
