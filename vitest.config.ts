import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const clientSource = (file: string): string => fileURLToPath(new URL(`./packages/client/src/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the packages from source: the server's imports of the client resolve to the same
    // modules the tests import, as tsconfig.test.json's paths do for the type checker.
    alias: [
      { find: /^orchestrator-ts-client\/internal$/, replacement: clientSource("internal.ts") },
      { find: /^orchestrator-ts-client$/, replacement: clientSource("index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Service tests start real processes on loopback ports; files run one at a time so their
    // ports and CPU do not collide on the 2-core machines.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default", ["json", { outputFile: "test-results.json" }]],
  },
});
