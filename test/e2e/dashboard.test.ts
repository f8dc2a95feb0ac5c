// The dashboard in a real browser (Debian's chromium through playwright-core) against real
// processes with keys: a wrong key refused, sign-in by keyboard, a task submitted through the SDK
// appearing and reaching succeeded without a reload, a running task cancelled from the page, failed
// tasks of a filter retried in bulk after a confirmation with their count, and each page drawn at
// 1280×800 (and the tasks page at phone width) into test-artifacts/dashboard/.
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactsDir, launchChromium, type TestBrowser } from "../helpers/browser.js";
import { startDashboardRig, type DashboardRig } from "../helpers/dashboard.js";
import { storeBackends } from "../helpers/stores.js";
import { keyIdOf } from "../../packages/server/src/util/auth.js";

const waitMs = 15_000;

describe.each(storeBackends)("the dashboard in chromium (%s store)", (store) => {
  let rig: DashboardRig;
  let chromium: TestBrowser;
  let context: BrowserContext;
  let page: Page;
  /** Uncaught errors of the page and anything its Content-Security-Policy blocked: none, at the end. */
  const pageProblems: string[] = [];

  const screenshot = (name: string): Promise<Buffer> => page.screenshot({ path: join(artifactsDir, `${store}-${name}.png`) });
  const row = (taskId: string) => page.locator(`tr[data-task-id="${taskId}"]`);
  const stateOf = (taskId: string, state: string) => row(taskId).locator(".state", { hasText: new RegExp(`^${state}$`) });

  beforeAll(async () => {
    [rig, chromium] = await Promise.all([startDashboardRig(store), launchChromium()]);
    context = await chromium.browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(waitMs);
    page = await context.newPage();
    page.on("pageerror", (error) => pageProblems.push(`uncaught: ${error.message}`));
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) pageProblems.push(`CSP: ${message.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await chromium?.close();
    await rig?.cluster.stop();
  });

  it("refuses an invalid key with the reason, and signs in with the client key using the keyboard only", async () => {
    await page.goto(`${rig.baseUrl}/`);
    const keyField = page.getByLabel("Client key");
    await keyField.fill("not-a-key-of-this-gateway-0123456789");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Not signed in: the API key is not valid here" }).waitFor();
    await screenshot("sign-in-refused");

    await keyField.fill("");
    await keyField.focus();
    await page.keyboard.type(rig.keys.client);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    // Kept for this tab only (sessionStorage); the test's tsconfig has no DOM types, hence the string.
    expect(await page.evaluate("sessionStorage.length")).toBe(1);
  });

  it("shows a task submitted through the SDK as it appears and runs to succeeded, without a reload", async () => {
    await page.goto(`${rig.baseUrl}/#/tasks?name=sleepy`);
    await page.getByRole("heading", { name: "Tasks" }).waitFor();
    // The live stream has fixed its start: what is submitted from now on will come.
    await page.getByText("● live").waitFor();
    const navigations: string[] = [];
    page.on("framenavigated", (frame) => navigations.push(frame.url()));

    const { taskId } = await rig.cluster.client.submit({ name: "sleepy", payload: { ms: 1_500 } });
    await row(taskId).waitFor();
    await stateOf(taskId, "running").waitFor();
    await screenshot("tasks");
    await stateOf(taskId, "succeeded").waitFor();
    expect(navigations).toEqual([]);

    await row(taskId).getByRole("link", { name: taskId }).click();
    await page.getByRole("heading", { name: `Task ${taskId}` }).waitFor();
    await page.getByRole("list", { name: "Timeline" }).locator("li[data-state=succeeded]").waitFor();
    expect(await page.getByRole("list", { name: "Timeline" }).locator("li").evaluateAll((items) => items.map((item) => item.getAttribute("data-state")))).toEqual(["queued", "running", "succeeded"]);
    await page.getByRole("region", { name: "Result" }).getByText('"slept_ms":1500').waitFor();
    await screenshot("task");
  });

  it("cancels a running task from the page", async () => {
    await page.goto(`${rig.baseUrl}/#/tasks?name=wait-for-abort`);
    await page.getByText("● live").waitFor();
    const { taskId } = await rig.cluster.client.submit({ name: "wait-for-abort" });
    await stateOf(taskId, "running").waitFor();
    await page.getByRole("button", { name: `Cancel task ${taskId}` }).click();
    await stateOf(taskId, "cancelled").waitFor();
    await page.getByRole("status").filter({ hasText: `Cancelled task ${taskId}.` }).waitFor();
    expect((await rig.cluster.client.get(taskId)).state).toBe("cancelled");

    // The bulk dialog by keyboard: nothing left to cancel, so its action is off; Escape closes it
    // and focus goes back to the button that opened it.
    const opener = page.getByRole("button", { name: "Cancel all matching…" });
    await opener.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Cancel all matching tasks?" });
    await dialog.getByText("0 tasks match the filter").waitFor();
    expect(await dialog.getByRole("button", { name: "Cancel 0 tasks" }).isDisabled()).toBe(true);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Cancel all matching…");
  });

  it("retries the failed tasks of a filter in bulk, after a confirmation that shows their count", async () => {
    const failed = await Promise.all(Array.from({ length: 3 }, () => rig.cluster.client.submit({ name: "non-retryable", maxRetries: 0 })));
    for (const { taskId } of failed) expect((await rig.cluster.client.waitForResult(taskId)).state).toBe("failed");

    await page.goto(`${rig.baseUrl}/#/tasks?name=non-retryable&state=failed`);
    for (const { taskId } of failed) await stateOf(taskId, "failed").waitFor();
    await page.getByRole("button", { name: "Retry all matching…" }).click();
    const dialog = page.getByRole("dialog", { name: "Retry all matching tasks?" });
    await dialog.getByText("3 tasks match the filter").waitFor();
    await screenshot("bulk-retry-confirmation");
    await dialog.getByRole("button", { name: "Retry 3 tasks" }).click();
    await page.getByRole("status").filter({ hasText: "Retried 3 tasks." }).waitFor();
    // The Scheduler logs the action with the id of the key the page signed in with (never the key).
    const logged = await rig.cluster.scheduler.waitForLog((record) => record.action === "RetryTasks");
    expect(logged).toMatchObject({ count: 3, key_id: keyIdOf(rig.keys.client), reason: "retried from the dashboard (bulk)" });
    // Each ran a second attempt (and failed again: the handler always does).
    for (const { taskId } of failed) {
      await expect.poll(async () => (await rig.cluster.client.get(taskId)).attempt, { timeout: waitMs }).toBe(2);
    }
  });

  it("lists the workers with their slots and last heartbeat, and pauses and resumes a name", async () => {
    await page.goto(`${rig.baseUrl}/#/workers`);
    const workers = page.getByRole("table", { name: "Workers" });
    await workers.locator("tbody tr").first().waitFor();
    expect(await workers.locator("tbody tr").count()).toBe(1);
    await workers.getByText("/ 4").waitFor();
    await screenshot("workers");

    await rig.cluster.client.schedules.create({ key: "nightly-report", cron: "0 3 * * *", task: { name: "report" } });
    await page.goto(`${rig.baseUrl}/#/schedules`);
    await page.getByLabel("Task name", { exact: true }).fill("report");
    await page.getByRole("button", { name: "Pause name" }).click();
    await page.getByRole("button", { name: "Resume report" }).waitFor();
    expect((await rig.cluster.client.listPausedQueues()).map((queue) => queue.name)).toEqual(["report"]);
    await page.getByRole("button", { name: "Pause schedule nightly-report" }).waitFor();
    await screenshot("schedules");
    await page.getByRole("button", { name: "Resume report" }).click();
    await page.getByText("No name is paused.").waitFor();
    expect(await rig.cluster.client.listPausedQueues()).toEqual([]);
  });

  it("draws the overview, and the tasks page at phone width without sideways scrolling of the page", async () => {
    await page.goto(`${rig.baseUrl}/#/`);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("table", { name: "Tasks per name" }).or(page.getByRole("alert")).first().waitFor();
    await screenshot("overview");

    // The same tab (the key is kept per tab), narrowed to a phone's width.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${rig.baseUrl}/#/tasks?name=sleepy`);
    await page.getByRole("heading", { name: "Tasks" }).waitFor();
    await page.getByRole("table", { name: "Tasks" }).locator("tbody tr").first().waitFor();
    // Wide tables scroll inside their own box; the page itself fits the screen.
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await screenshot("tasks-phone");
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(pageProblems).toEqual([]);
  });
});
