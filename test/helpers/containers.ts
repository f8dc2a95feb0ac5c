// Docker for the container test, on a machine that reaches no image registry: a daemon (the
// machine's, or one this test starts and stops), a local Debian base image made with debootstrap
// and the machine's own Node.js, and a record of the images the test made so that it removes them.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { tempDir } from "./processes.js";

/** The Debian docker client: another one earlier on PATH may expect a newer engine. */
export const docker = "/usr/bin/docker";
export const dockerCompose = "/usr/bin/docker-compose";

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

/** Runs a command to its end; rejects with the tail of its output when it fails. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs ?? 600_000, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed (${error.message.split("\n")[0]}):\n${`${stdout}\n${stderr}`.slice(-4000)}`));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    await run(command, args, { timeoutMs: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export interface DockerDaemon {
  /** Why there is no daemon, when there is none. */
  unavailable: string | null;
  /** Stops the daemon if this test started it. */
  stop(): Promise<void>;
}

/** The machine's Docker daemon if one answers, else one started here (dockerd, in the background). */
export async function startDockerDaemon(): Promise<DockerDaemon> {
  const missing = [docker, dockerCompose, "/usr/sbin/dockerd", "/usr/sbin/debootstrap", "/usr/bin/node"].filter((path) => !existsSync(path));
  if (missing.length > 0) return { unavailable: `not installed: ${missing.join(", ")} (apt-get install docker.io docker-compose debootstrap iptables)`, stop: async () => {} };
  if (await succeeds(docker, ["info"])) return { unavailable: null, stop: async () => {} };
  const logs = tempDir("orchestrator-dockerd-");
  const daemon: ChildProcess = spawn("/usr/sbin/dockerd", [], { detached: true, stdio: ["ignore", "ignore", "ignore"], env: process.env });
  const exited = new Promise<void>((resolve) => daemon.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!(await succeeds(docker, ["info"]))) {
    if (daemon.exitCode !== null || Date.now() > deadline) {
      daemon.kill("SIGKILL");
      logs.remove();
      return { unavailable: `dockerd did not start within 30 s (exit code ${daemon.exitCode ?? "none"})`, stop: async () => {} };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    unavailable: null,
    stop: async () => {
      daemon.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (daemon.exitCode === null) daemon.kill("SIGKILL");
      logs.remove();
    },
  };
}

/**
 * A Debian bookworm image (debootstrap minbase) with the machine's Node.js and npm, the tools that
 * compile better-sqlite3, PostgreSQL (for the test's database image), and the machine's CA bundle,
 * which the npm registry's certificate chains to here. The root file system is kept as a tarball in
 * the user's cache (it takes minutes to make) and imported as `tag`.
 */
export async function importLocalBase(tag: string): Promise<void> {
  const packages = ["ca-certificates", "python3", "make", "g++", "postgresql"];
  const caBundle = "/etc/ssl/certs/ca-certificates.crt";
  const key = createHash("sha256").update([await run("/usr/bin/node", ["--version"]), packages.join(","), readFileSync(caBundle)].join("\n")).digest("hex").slice(0, 16);
  const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "orchestrator-tests");
  const tarball = join(cacheDir, `bookworm-base-${key}.tar`);
  if (!existsSync(tarball)) {
    mkdirSync(cacheDir, { recursive: true });
    const root = tempDir("orchestrator-rootfs-");
    try {
      await run("/usr/sbin/debootstrap", ["--variant=minbase", `--include=${packages.join(",")}`, "bookworm", root.path, debianMirror()], { timeoutMs: 900_000 });
      // The machine's Node.js (/usr/bin/node with npm beside it) and headers, for node-gyp.
      await run("sh", ["-c", `tar -C / -cf - usr/bin/node usr/bin/npm usr/bin/npx usr/lib/node_modules/npm usr/include/node | tar -C "${root.path}" -xf -`]);
      await run("cp", [caBundle, join(root.path, caBundle)]);
      await run("tar", ["-C", root.path, "-cf", `${tarball}.partial`, "."], { timeoutMs: 300_000 });
      renameSync(`${tarball}.partial`, tarball);
    } finally {
      rmSync(`${tarball}.partial`, { force: true });
      root.remove();
    }
  }
  await run(docker, ["import", "-c", `ENV NODE_EXTRA_CA_CERTS=${caBundle} npm_config_cafile=${caBundle} npm_config_nodedir=/usr`, tarball, tag], { timeoutMs: 300_000 });
}

/** The Debian mirror apt uses on this machine. */
function debianMirror(): string {
  for (const file of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (!existsSync(file)) continue;
    const match = /(?:URIs:|deb)\s+(https?:\/\/\S+\/debian)\b/.exec(readFileSync(file, "utf8"));
    if (match?.[1]) return match[1];
  }
  return "http://deb.debian.org/debian";
}

/** Image ids with no tag: what a multi-stage build leaves of its build stage. */
export async function danglingImages(): Promise<Set<string>> {
  const out = await run(docker, ["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
  return new Set(out.split("\n").filter(Boolean));
}
