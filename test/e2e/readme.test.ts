// The README as a user follows it: the packages installed by name from `npm pack` tarballs into an
// empty project, the SDK example run as written, and every block marked `run` executed command by
// command. A block that rots, or a new block that nothing runs, fails here.
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { adminQuery } from "../helpers/stores.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readmeBlocks, runBlock } from "../helpers/readme.js";
import { repoRoot, ServiceProcess, tempDir } from "../helpers/processes.js";

const exec = promisify(execFile);
const blocks = readmeBlocks();
const markers = new Set(["run", "file", "tested-by", "ci", "output"]);

/** The environment a user's shell has: none of the test run's ORCHESTRATOR_* settings. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("ORCHESTRATOR_")) delete env[name];
  return env;
}

async function npm(args: string[], cwd: string): Promise<{ stdout: string; ms: number }> {
  const started = Date.now();
  const { stdout } = await exec("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env: userEnv(), maxBuffer: 16 * 1024 * 1024, timeout: 400_000 });
  return { stdout, ms: Date.now() - started };
}

function filesNamed(dir: string, suffix: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesNamed(path, suffix));
    else if (entry.name.endsWith(suffix)) found.push(path);
  }
  return found;
}

describe("every README code block says how it is run", () => {
  it("has a known marker on each block", () => {
    const unmarked = blocks.filter((block) => !markers.has(block.marker)).map((block) => `README.md:${block.line}`);
    expect(unmarked, "add <!-- readme: run|file|tested-by|ci|output ... --> before these blocks").toEqual([]);
  });

  it("shows each example file verbatim, and names tests that exist", () => {
    for (const block of blocks.filter((b) => b.marker === "file")) {
      expect(block.text, `README.md:${block.line} differs from ${block.argument}`).toBe(readFileSync(join(repoRoot, block.argument), "utf8").trimEnd());
    }
    for (const block of blocks.filter((b) => b.marker === "tested-by")) {
      expect(existsSync(join(repoRoot, "test", block.argument)), `README.md:${block.line}: test/${block.argument}`).toBe(true);
    }
  });
});

describe("in the checkout, after npm ci", () => {
  it("runs the orchestrator command through npx, as the README's separate-process commands do", async () => {
    const { stdout } = await exec("npx", ["orchestrator", "--help"], { cwd: repoRoot, env: userEnv(), timeout: 30_000 });
    expect(stdout).toMatch(/scheduler/);
    expect(stdout).toMatch(/gateway/);
  });
});

describe("installed by name from packed tarballs, as a user does", () => {
  const work = tempDir("orchestrator-readme-");
  const tarballs: Record<string, string> = {};

  beforeAll(async () => {
    const { stdout } = await npm(["pack", "--workspace", "packages/client", "--workspace", "packages/server", "--pack-destination", work.path, "--json"], repoRoot);
    for (const packed of JSON.parse(stdout) as Array<{ name: string; filename: string }>) tarballs[packed.name] = join(work.path, packed.filename);
  }, 120_000);
  afterAll(() => work.remove());

  it("installs the client package alone in under 30 s, with no native module and no server code, and runs the README's SDK example", async () => {
    const app = join(work.path, "client-app");
    await exec("mkdir", [app]);
    await npm(["init", "-y"], app);
    const install = await npm(["install", String(tarballs["orchestrator-ts-client"])], app);
    expect(install.ms).toBeLessThan(30_000);
    expect(filesNamed(join(app, "node_modules"), ".node")).toEqual([]);
    expect(existsSync(join(app, "node_modules/better-sqlite3"))).toBe(false);
    expect(existsSync(join(app, "node_modules/orchestrator-ts"))).toBe(false);

    // The example talks to the default ports, as the README's reader's does.
    const data = tempDir();
    const dev = new ServiceProcess("dev", ["--data-dir", data.path, "--handlers", join(repoRoot, "examples/handlers.mjs")]);
    try {
      await dev.waitForMessage(/^Gateway service listening on /, 20_000);
      await dev.waitForMessage(/^Worker service listening on /, 20_000);
      copyFileSync(join(repoRoot, "examples/sdk.mjs"), join(app, "sdk.mjs"));
      const run = await exec(process.execPath, ["sdk.mjs"], { cwd: app, env: userEnv(), timeout: 30_000 });
      expect(run.stdout).toMatch(/^1 queued 0%/m);
      expect(run.stdout).toContain("succeeded { words: 3 }");
      expect(run.stdout).toMatch(/^\d+ failed tasks$/m);
      // The handler module the README links, served by the bundled worker.
      const reversed = await exec(process.execPath, [join(repoRoot, "packages/server/dist/cli/main.js"), "submit", "reverse-text", "--payload", "abc", "--wait", "--json"], { env: userEnv(), timeout: 30_000 });
      expect(reversed.stdout).toMatch(/"result":\s*"cba"/);
    } finally {
      await dev.stop();
      data.remove();
    }
  }, 120_000);

  it("installs the server package and runs every README block marked run, as written", async () => {
    const app = join(work.path, "app");
    await exec("mkdir", [app]);
    await npm(["init", "-y"], app);
    await npm(["install", String(tarballs["orchestrator-ts"]), String(tarballs["orchestrator-ts-client"])], app);
    const env = userEnv();
    // The scale-out block keeps its tasks in this schema of the test database; a fresh one each run.
    const demoSchema = "DROP SCHEMA IF EXISTS orchestrator_demo CASCADE";
    await adminQuery(demoSchema);
    try {
      for (const block of blocks.filter((b) => b.marker === "run")) {
        const results = await runBlock(block.text, app, env);
        if (block.argument === "scale-out") expect(results.at(-1)?.output).toMatch(/succeeded/);
      }
    } finally {
      await adminQuery(demoSchema);
    }
    // The data directory the services made is private to their user.
    expect(statSync(join(app, "data")).mode & 0o777).toBe(0o700);
    // Every key and certificate file the commands made is one this repository's .gitignore keeps out.
    const secrets = readdirSync(app).filter((name) => /\.(key|apikey|crt|csr|srl)$|^keys\.txt$/.test(name));
    expect(secrets.length).toBeGreaterThanOrEqual(10);
    // Checked against a copy of .gitignore in a repository of its own: CI also runs the suite in
    // copies of the checkout that have no .git.
    copyFileSync(join(repoRoot, ".gitignore"), join(app, ".gitignore"));
    await exec("git", ["init", "-q"], { cwd: app });
    const ignored = await exec("git", ["check-ignore", "--no-index", ...secrets], { cwd: app });
    expect(ignored.stdout.trim().split("\n").sort()).toEqual([...secrets].sort());
  }, 600_000);
});
