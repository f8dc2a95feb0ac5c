// Handler modules as users write them (ESM and CommonJS), loaded by real Node (vitest's own module
// loader gives CommonJS modules named exports that Node does not), and what the worker says about them.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, repoRoot, startService, type LogRecord, type ServiceProcess } from "../helpers/processes.js";

const fixture = (file: string): string => join(repoRoot, "test/fixtures", file);
const loader = pathToFileURL(join(repoRoot, "packages/server/dist/worker/handler-module.js")).href;

const shapes = [
  { shape: "ESM export const handlers", file: "esm-named-handlers.mjs", name: "esm-named" },
  { shape: "ESM export default {...}", file: "esm-default-handlers.mjs", name: "esm-default" },
  { shape: "CommonJS module.exports = { handlers: {...} }", file: "cjs-handlers-property.cjs", name: "cjs-property" },
  { shape: "CommonJS module.exports = { handlers }", file: "cjs-handlers-shorthand.cjs", name: "cjs-shorthand" },
  { shape: "CommonJS module.exports = { ...handlers }", file: "cjs-handlers-spread.cjs", name: "cjs-spread" },
  { shape: "CommonJS exports.name = fn", file: "cjs-exports-assign.cjs", name: "cjs-assign" },
];

/** What the built loader makes of each fixture in a plain Node process: handler names and one call. */
async function loadInNode(files: string[]): Promise<Record<string, { names?: string[]; result?: unknown; error?: string }>> {
  const script = `
    const { loadHandlerModule } = await import(${JSON.stringify(loader)});
    const out = {};
    for (const file of ${JSON.stringify(files)}) {
      try {
        const handlers = await loadHandlerModule(file);
        const names = Object.keys(handlers);
        out[file] = { names, result: await handlers[names[0]]({ payload: Buffer.from("x") }) };
      } catch (error) {
        out[file] = { error: error.message };
      }
    }
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: repoRoot, timeout: 20_000 });
  return JSON.parse(stdout) as Record<string, { names?: string[]; result?: unknown; error?: string }>;
}

describe("handler modules of every shape", () => {
  let loaded: Awaited<ReturnType<typeof loadInNode>>;

  beforeAll(async () => {
    loaded = await loadInNode([...shapes.map(({ file }) => fixture(file)), fixture("no-handlers.mjs")]);
  });

  it.each(shapes)("loads $shape", ({ file, name }) => {
    expect(loaded[fixture(file)]).toEqual({ names: expect.arrayContaining([name]) as unknown, result: `${name}:x` });
  });

  it("takes every exports.name of a CommonJS module as a handler", () => {
    expect(loaded[fixture("cjs-exports-assign.cjs")]?.names?.sort()).toEqual(["cjs-assign", "cjsAssignToo"]);
  });

  it("refuses a module without handlers, naming the shapes it takes", () => {
    expect(loaded[fixture("no-handlers.mjs")]?.error).toMatch(/must export its handlers.*module\.exports = \{ handlers/);
  });
});

describe("the worker and the bundled examples", () => {
  const started: ServiceProcess[] = [];
  let deadScheduler = "";

  beforeAll(async () => {
    // The worker listens and logs its handlers whether or not its Scheduler is up.
    deadScheduler = `127.0.0.1:${await freePort()}`;
  });

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop("SIGKILL")));
  });

  async function worker(args: string[], env: Record<string, string> = {}): Promise<{ listening: LogRecord; logs: LogRecord[] }> {
    const service = await startService("worker", ["--port", String(await freePort()), "--scheduler", deadScheduler, ...args], env);
    started.push(service);
    return { listening: await service.waitForMessage(/^Worker service listening on /), logs: service.logs };
  }

  const replacedWarnings = (logs: LogRecord[]): LogRecord[] => logs.filter((record) => record.level === "warn" && /replaces the bundled example/.test(String(record.msg)));

  it("serves a CommonJS module's handlers (module.exports = { handlers: {...} })", async () => {
    const { listening } = await worker(["--handlers", fixture("cjs-handlers-property.cjs"), "--no-examples"]);
    expect(listening.task_names).toEqual(["cjs-property"]);
  });

  it("warns, naming handler and module, when a module's handler replaces a bundled example", async () => {
    const module = fixture("replaces-example-handlers.mjs");
    const { listening, logs } = await worker(["--handlers", module]);
    expect(listening.task_names).toEqual(expect.arrayContaining(["echo", "data-processing-job", "not-an-example"]));
    expect(replacedWarnings(logs)).toEqual([expect.objectContaining({ handler: "echo", module })]);
  });

  it.each<{ how: string; args: string[]; env: Record<string, string> }>([
    { how: "--no-examples", args: ["--no-examples"], env: {} },
    { how: "ORCHESTRATOR_NO_EXAMPLES=1", args: [], env: { ORCHESTRATOR_NO_EXAMPLES: "1" } },
  ])("serves only the module's handlers, without the warning, with $how", async ({ args, env }) => {
    const { listening, logs } = await worker(["--handlers", fixture("replaces-example-handlers.mjs"), ...args], env);
    expect(listening.task_names).toEqual(["echo", "not-an-example"]);
    expect(replacedWarnings(logs)).toEqual([]);
  });

  it("keeps the examples with ORCHESTRATOR_NO_EXAMPLES=0", async () => {
    const { listening } = await worker([], { ORCHESTRATOR_NO_EXAMPLES: "0" });
    expect(listening.task_names).toEqual(expect.arrayContaining(["data-processing-job", "echo"]));
  });
});
