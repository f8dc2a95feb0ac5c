import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./processes.js";

/**
 * Every fenced code block of the README carries a marker on the line before it, saying how the test
 * suite runs it, so a block that rots (or a new block nobody runs) turns CI red:
 *   <!-- readme: run NAME -->        readme.test.ts runs its commands, as written, in a user's project
 *   <!-- readme: file PATH -->       the block is that file of the repository, verbatim; a test runs the file
 *   <!-- readme: tested-by FILE -->  a test (test/FILE) runs the same commands against its own ports
 *   <!-- readme: ci -->              .ci/run runs it (the install and test commands themselves)
 *   <!-- readme: output -->          not commands: sample output or a file's shape
 */
export interface ReadmeBlock {
  marker: string;
  argument: string;
  language: string;
  text: string;
  line: number;
}

export function readmeBlocks(path = join(repoRoot, "README.md")): ReadmeBlock[] {
  const lines = readFileSync(path, "utf8").split("\n");
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)/.exec(lines[i] ?? "");
    if (!fence) continue;
    const marker = /^<!-- readme: (\S+)\s*(.*?)\s*-->$/.exec(lines[i - 1] ?? "");
    const end = lines.indexOf("```", i + 1);
    if (end < 0) throw new Error(`README.md:${i + 1}: a code block that never closes`);
    blocks.push({ marker: marker?.[1] ?? "", argument: marker?.[2] ?? "", language: fence[1] ?? "", text: lines.slice(i + 1, end).join("\n"), line: i + 1 });
    i = end;
  }
  return blocks;
}

/**
 * The block's commands: continuation lines joined, a `for`/`while`/`if` compound kept whole up to
 * its `done`/`fi`, blank and comment-only lines dropped.
 */
export function commandsOf(text: string): string[] {
  const commands: string[] = [];
  let current = "";
  let depth = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    const trimmed = line.trim();
    if (!current && (trimmed === "" || trimmed.startsWith("#"))) continue;
    if (/^(for|while|until|if)\b/.test(trimmed) && !/\b(done|fi)\s*(#.*)?$/.test(trimmed)) depth++;
    else if (/^(done|fi)\b/.test(trimmed)) depth--;
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (depth > 0) {
      current += "\n";
      continue;
    }
    commands.push(current);
    current = "";
  }
  return commands;
}

/** A service start: runs until stopped, so the runner starts it in the background (a terminal of its own). */
const serviceCommand = /(^|\s)npx orchestrator (scheduler|gateway|worker|dev)\b/;

export interface CommandResult {
  command: string;
  code: number | null;
  output: string;
}

/**
 * Runs a README block's commands in `cwd` with bash, as a user would type them: each service in its
 * own background process (waited for until it says it listens), every other command to its end,
 * which must exit 0. The services are stopped with Ctrl+C (SIGINT) when the block is done.
 */
export async function runBlock(text: string, cwd: string, env: NodeJS.ProcessEnv): Promise<CommandResult[]> {
  const services: ChildProcess[] = [];
  const results: CommandResult[] = [];
  try {
    for (const command of commandsOf(text)) {
      if (serviceCommand.test(command)) {
        services.push(await startInBackground(command, cwd, env));
        continue;
      }
      const result = await runToEnd(command, cwd, env);
      results.push(result);
      if (result.code !== 0) throw new Error(`README command failed (exit ${result.code}): ${command}\n${result.output}`);
    }
  } finally {
    await Promise.all(services.map(stopService));
  }
  return results;
}

function runToEnd(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", command], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ command, code, output });
    });
  });
}

function startInBackground(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // A process group of its own, like a terminal's foreground job: Ctrl+C (SIGINT to the group)
    // reaches npx and the service it started alike.
    const child = spawn("bash", ["-c", command], { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const lines: string[] = [];
    const timer = setTimeout(() => {
      signalGroup(child, "SIGKILL");
      reject(new Error(`"${command}" did not say it listens within 30 s:\n${lines.join("\n")}`));
    }, 30_000);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        lines.push(line);
        if (/service listening on/.test(line) && (!command.includes(" dev") || lines.filter((l) => /service listening on/.test(l)).length === 3)) {
          clearTimeout(timer);
          resolve(child);
        }
      });
    }
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`"${command}" exited with ${code} before listening:\n${lines.join("\n")}`));
    });
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

/** Whether a process of the group still runs (zombies aside: in a container nobody may reap them). */
function groupAlive(child: ChildProcess): boolean {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid pgrp ...; comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, , group] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(group) === child.pid && state !== "Z") return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

/**
 * Ctrl+C to the service's process group; resolves once every process of the group has exited (npx
 * may exit before the service it started has closed its port).
 */
async function stopService(child: ChildProcess): Promise<void> {
  signalGroup(child, "SIGINT");
  const deadline = Date.now() + 15_000;
  while (groupAlive(child)) {
    if (Date.now() > deadline) signalGroup(child, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
