// Debian's chromium driven by playwright-core (no browser download): headless, with every
// background network feature off, since this closed network refuses each of their connections.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { repoRoot } from "./processes.js";

export const chromiumPath = process.env.ORCHESTRATOR_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Where the browser tests write their screenshots (gitignored; CI keeps them as artifacts). */
export const artifactsDir = join(repoRoot, "test-artifacts", "dashboard");

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(chromiumPath)) throw new Error(`no chromium at ${chromiumPath}: install Debian's chromium package (.ci/run does) or set ORCHESTRATOR_TEST_CHROMIUM`);
  mkdirSync(artifactsDir, { recursive: true });
  // launch() gives the browser a fresh profile of its own (a temporary --user-data-dir), removed on close.
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return { browser, close: () => browser.close() };
}
