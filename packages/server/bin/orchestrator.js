#!/usr/bin/env node
// The `orchestrator` command. A file of its own (not dist/cli/main.js itself) so that npm links it
// when the workspace is installed, before the first build has made dist/.
import "../dist/cli/main.js";
