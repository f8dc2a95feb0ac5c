import { execFile, spawn } from "node:child_process";
import { cliPath } from "./processes.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from start to exit. */
  ms: number;
}

/** The environment without any ORCHESTRATOR_* setting of the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ORCHESTRATOR_")));
  return { ...env, ...extra };
}

/** Runs `node packages/server/dist/cli/main.js ...args` to its end; never rejects on a non-zero exit. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliPath, ...args], { env: cleanEnv(env), timeout: 20_000, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(new Error(`${args.join(" ")} did not exit normally (${error.message}); stderr:\n${stderr}`));
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * Starts a CLI command that does not end by itself (submit --wait of a task nobody serves) and
 * resolves with its stderr once it matches `until`; the process is killed either way.
 */
export function cliStderrUntil(args: string[], until: RegExp, timeoutMs = 20_000): Promise<{ stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [cliPath, ...args], { env: cleanEnv(), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  return new Promise<{ stderr: string; ms: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stderr did not match ${until} within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      if (!until.test(stderr)) return;
      clearTimeout(timer);
      resolve({ stderr, ms: Date.now() - started });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited (${code}) before its stderr matched ${until}:\n${stderr}`));
    });
  }).finally(() => child.kill("SIGKILL"));
}
