// Regenerates src/protocol/generated from proto/ with buf and ts-proto (both dev dependencies).
// With --check, generates into a temporary folder and fails when the committed code is stale.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const committed = join(root, "src/protocol/generated");
const check = process.argv.includes("--check");
const buf = join(root, "node_modules/.bin/buf");

execFileSync(buf, ["lint"], { cwd: root, stdio: "inherit" });

const listFiles = (dir) =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });

if (!check) {
  rmSync(committed, { recursive: true, force: true });
  execFileSync(buf, ["generate"], { cwd: root, stdio: "inherit" });
  console.log("generated", listFiles(committed).map((f) => relative(root, f)).join(", "));
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), "orchestrator-gen-"));
try {
  const template = readFileSync(join(root, "buf.gen.yaml"), "utf8");
  writeFileSync(join(scratch, "buf.gen.yaml"), template.replaceAll("src/protocol/generated", join(scratch, "out")).replaceAll("./node_modules", join(root, "node_modules")));
  execFileSync(buf, ["generate", "--template", join(scratch, "buf.gen.yaml")], { cwd: root, stdio: "inherit" });
  const fresh = listFiles(join(scratch, "out")).map((f) => relative(join(scratch, "out"), f)).sort();
  const old = listFiles(committed).map((f) => relative(committed, f)).sort();
  const stale = fresh.filter((f) => !old.includes(f) || readFileSync(join(scratch, "out", f), "utf8") !== readFileSync(join(committed, f), "utf8"));
  const extra = old.filter((f) => !fresh.includes(f));
  if (stale.length > 0 || extra.length > 0) {
    console.error(`generated code is stale (${[...stale, ...extra].join(", ")}): run npm run gen and commit the result`);
    process.exit(1);
  }
  console.log("generated code is up to date");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
