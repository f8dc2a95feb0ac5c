// W2-hog's CPU hog: a busy-loop Node process pinned to one core (taskset -c 0 when taskset is
// there), started before a measured window and killed after it. Both systems' W2 are measured with
// and without it; the report compares how much each one's p99 grows.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { procCpuSeconds, sleep } from "./util.js";

function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export class CpuHog {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  /** Whether the hog is pinned to core 0 (taskset found) or free to move between cores. */
  readonly pinned: boolean;
  private lastCpuSeconds = 0;

  private constructor() {
    this.pinned = hasTaskset();
    const loop = ["-e", "for(;;){}"];
    // taskset execs node in place, so the child's pid is the busy loop's.
    this.child = this.pinned ? spawn("taskset", ["-c", "0", process.execPath, ...loop], { stdio: "ignore" }) : spawn(process.execPath, loop, { stdio: "ignore" });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  /** Starts the hog and gives it a moment to be scheduled (and pinned) before the window opens. */
  static async start(): Promise<CpuHog> {
    const hog = new CpuHog();
    await sleep(300);
    if (hog.child.exitCode !== null) throw new Error(`the CPU hog exited at once (${hog.child.exitCode})`);
    return hog;
  }

  /** CPU seconds the hog has burnt so far (counted as the run's own, not as other work on the machine). */
  cpuSeconds(): number {
    const now = procCpuSeconds(this.child.pid ?? -1);
    if (Number.isFinite(now)) this.lastCpuSeconds = now;
    return this.lastCpuSeconds;
  }

  /** Kills the hog; returns the CPU seconds it used. */
  async stop(): Promise<number> {
    const used = this.cpuSeconds();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
    return used;
  }
}
