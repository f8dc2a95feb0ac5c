// Dashboard: how long the dashboard's first screen takes on a store holding a million tasks. The
// Gateway serves the page on its HTTP listener; Debian's Chromium, driven by playwright-core, opens
// it as a user would and the clock stops when the overview's table shows every task name with its
// counts. The first load is with a cold browser cache, the next ones warm (assets cached, the page
// and its data fetched again); the target is on the worst of them.
import { existsSync } from "node:fs";
import type { Metrics, Sizes } from "./scenarios.js";
import { withDeployment } from "./scenarios.js";
import { Deployment, type StoreMode } from "./services.js";
import { distribution, round } from "./util.js";

/** Debian's chromium package: the bench downloads no browser. */
export const chromiumPath = process.env.ORCHESTRATOR_BENCH_CHROMIUM ?? "/usr/bin/chromium";
const dashboardNames = 10;
/** The overview's rows, one per task name (packages/server/dashboard/src/pages/overview.tsx). */
const rowsSelector = 'table[aria-label="Tasks per name"] tbody tr';
const loads = 5;

export function runDashboardLoad(store: StoreMode, sizes: Sizes): Promise<Metrics> {
  if (!existsSync(chromiumPath)) throw new Error(`the Dashboard workload needs Chromium at ${chromiumPath} (Debian: apt-get install chromium)`);
  const deployment = new Deployment({ store, workerSlots: 0, gatewayHttp: true, history: sizes.dashboardTasks, historyShape: "dashboard" });
  return withDeployment(deployment, async () => {
    const { chromium } = await import("playwright-core");
    // launch() gives the browser a fresh profile of its own (a temporary --user-data-dir), removed on close.
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
      const url = `http://127.0.0.1:${deployment.gatewayHttpPort}/`;
      const times: number[] = [];
      for (let load = 0; load < loads; load++) {
        const started = performance.now();
        await page.goto(load === 0 ? url : `${url}?load=${load}`, { waitUntil: "commit" });
        // Locators, not page functions: the page's Content-Security-Policy forbids evaluating strings.
        await page.locator(rowsSelector).nth(dashboardNames - 1).waitFor({ timeout: 30_000 });
        times.push(performance.now() - started);
      }
      const counted = (await page.locator(`${rowsSelector} td[data-state]`).allTextContents()).reduce((sum, text) => sum + Number(text), 0);
      const warm = distribution(times.slice(1));
      return {
        firstScreenColdMs: round(times[0] ?? Number.NaN, 1), firstScreenWarmP50Ms: round(warm.p50, 1), firstScreenMaxMs: round(Math.max(...times), 1),
        tasksInStore: deployment.historySeq, tasksCounted: counted, errors: counted === deployment.historySeq ? 0 : 1,
      };
    } finally {
      await browser.close();
    }
  });
}
