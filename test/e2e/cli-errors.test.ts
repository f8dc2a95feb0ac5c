// Errors a new user meets first, each of which must say what was tried and what to do.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { runCli } from "../helpers/cli.js";
import { freePort, startService, tempDir, type ServiceProcess } from "../helpers/processes.js";

const dir = tempDir("orchestrator-cli-errors-");
const started: ServiceProcess[] = [];
let pki: TestPki;
let deadAddress = "";
let tlsGateway = "";
let plaintextGateway = "";
let mutualGateway = "";

beforeAll(async () => {
  pki = makeTestPki(dir.path);
  deadAddress = `127.0.0.1:${await freePort()}`;
  // Gateways alone: they listen whether or not their Scheduler is up, which is all these tests need.
  const tlsPort = await freePort();
  started.push(await startService("gateway", ["--port", String(tlsPort), "--scheduler", deadAddress, "--tls-cert", pki.server.cert, "--tls-key", pki.server.key]));
  tlsGateway = `localhost:${tlsPort}`;
  const plaintextPort = await freePort();
  started.push(await startService("gateway", ["--port", String(plaintextPort), "--scheduler", deadAddress]));
  plaintextGateway = `localhost:${plaintextPort}`;
  const mutualPort = await freePort();
  started.push(await startService("gateway", [
    "--port", String(mutualPort), "--scheduler", deadAddress, "--tls-cert", pki.server.cert, "--tls-key", pki.server.key, "--tls-client-ca", pki.ca.cert,
  ]));
  mutualGateway = `localhost:${mutualPort}`;
});

afterAll(async () => {
  await Promise.all(started.map((service) => service.stop("SIGKILL")));
  dir.remove();
});

describe("a client command that cannot reach its Gateway", () => {
  it("names the address and where it came from, and says to start a Gateway, when nothing listens there", async () => {
    const run = await runCli(["workers", "--gateway", deadAddress]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^error \\(Unavailable\\): cannot reach the Gateway at ${deadAddress} \\(from --gateway\\): nothing is listening there`));
    expect(run.stderr).toContain('"orchestrator gateway"');
    expect(run.stderr).toContain('"orchestrator dev"');
    expect(run.stderr).toContain("--gateway host:port or ORCHESTRATOR_GATEWAY_ADDRESS");
    expect(run.stderr).not.toContain("Resolution note");

    const viaEnv = await runCli(["workers"], { ORCHESTRATOR_GATEWAY_ADDRESS: deadAddress });
    expect(viaEnv.stderr).toContain(`the Gateway at ${deadAddress} (from ORCHESTRATOR_GATEWAY_ADDRESS)`);
  });

  it("says to give --tls-ca when the call was plaintext and the Gateway speaks TLS", async () => {
    const run = await runCli(["workers", "--gateway", tlsGateway]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^error \\(Unavailable\\): cannot reach the Gateway at ${tlsGateway} \\(from --gateway\\): it speaks TLS and this call was plaintext`));
    expect(run.stderr).toContain("--tls-ca");
    // The same Gateway with its CA is reached, and its own UNAVAILABLE (no Scheduler) passes as it is.
    const trusted = await runCli(["workers", "--gateway", tlsGateway, "--tls-ca", pki.ca.cert]);
    expect(trusted.code).toBe(1);
    expect(trusted.stderr).toContain(`error (Unavailable): the scheduler at ${deadAddress} is unreachable`);
  });

  it("says the Gateway speaks plaintext when the call used TLS", async () => {
    const run = await runCli(["workers", "--gateway", plaintextGateway, "--tls-ca", pki.ca.cert]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error (Unavailable): cannot reach the Gateway at ${plaintextGateway} (from --gateway): this call used TLS but the Gateway there speaks plaintext`);
    expect(run.stderr).toContain("Drop --tls-ca");
  });

  it("says which CA to give when the Gateway's certificate is not trusted", async () => {
    const run = await runCli(["workers", "--gateway", tlsGateway, "--tls-ca", join(dir.path, "other-ca.crt")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error (Unavailable): cannot reach the Gateway at ${tlsGateway} (from --gateway): `);
    expect(run.stderr).toContain("Check that --tls-ca is the CA that signed the Gateway's certificate");
  });

  it("says to give a client certificate when the Gateway requires mutual TLS", async () => {
    const run = await runCli(["workers", "--gateway", mutualGateway, "--tls-ca", pki.ca.cert]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error (Unavailable): cannot reach the Gateway at ${mutualGateway} (from --gateway): it requires a client certificate (mutual TLS)`);
    expect(run.stderr).toContain("--tls-cert client.crt --tls-key client.key");
  });

  it("watch fails at once with the same explanation (the stream alone retries for about a minute)", async () => {
    const run = await runCli(["watch", randomUUID(), "--gateway", deadAddress]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^error \\(Unavailable\\): cannot reach the Gateway at ${deadAddress} \\(from --gateway\\): nothing is listening there`));
    expect(run.ms).toBeLessThan(10_000);
  });
});

describe("submit --payload-file of a file that cannot be read", () => {
  it("is a usage error naming the file and why", async () => {
    const missing = join(dir.path, "no-such-payload.json");
    const run = await runCli(["submit", "echo", "--payload-file", missing, "--gateway", deadAddress]);
    expect(run).toMatchObject({ code: 1, stdout: "", stderr: `error (InvalidArgument): cannot read the payload file ${missing} (--payload-file): no such file or directory\n` });
  });
});

describe("a service whose port is taken", () => {
  let squatter: Server;
  let takenPort = 0;

  beforeAll(async () => {
    takenPort = await freePort();
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(takenPort, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => squatter.close(resolve));
  });

  it("prints one line naming the address and the flag and variable that change the port", async () => {
    const run = await runCli(["gateway", "--port", String(takenPort), "--scheduler", deadAddress]);
    expect(run.code).toBe(1);
    // Nothing else on stderr: no "E No address added ..." line of grpc-js's own logger.
    expect(run.stderr).toBe(
      `error (Unavailable): cannot listen on 127.0.0.1:${takenPort}: the address is already in use (by another orchestrator service or another program); ` +
        "choose another port with --port or ORCHESTRATOR_GATEWAY_PORT\n",
    );
    expect(run.stdout).not.toContain("No address added");
  });

  it("names dev's own flag for the service whose port is taken", async () => {
    const data = join(dir.path, "dev-data");
    const run = await runCli(["dev", "--data-dir", data, "--gateway-port", String(takenPort), "--scheduler-port", "0", "--worker-port", "0"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error (Unavailable): cannot listen on 127.0.0.1:${takenPort}: the address is already in use (by another orchestrator service or another program); ` +
        "choose another port with --gateway-port or ORCHESTRATOR_GATEWAY_PORT\n",
    );
    expect(run.stdout).not.toContain("No address added");
  });
});
