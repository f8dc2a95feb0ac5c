// Bundles the dashboard page into dist/dashboard/public, which the Gateway serves (src/dashboard/).
// Everything is bundled: the page loads nothing from any other origin at run time.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../dist/dashboard/public", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    // One small script and one stylesheet: the first screen needs no more requests than that.
    modulePreload: false,
    reportCompressedSize: false,
    target: "es2022",
  },
});
