#!/usr/bin/env node
import { Command } from "commander";
import { OrchestratorError } from "orchestrator-ts-client/internal";
import { codeName } from "orchestrator-ts-client/internal";
import { version } from "orchestrator-ts-client/internal";
import { clientCommands } from "./client-commands.js";
import { actionCommands } from "./action-commands.js";
import { eventsCommand } from "./events-command.js";
import { healthCommand } from "./health-command.js";
import { concurrencyCommand } from "./concurrency-commands.js";
import { queueCommands } from "./queue-commands.js";
import { rateLimitCommand } from "./rate-limit-commands.js";
import { scheduleCommand } from "./schedule-commands.js";
import { serviceCommands } from "./service-commands.js";

const program = new Command("orchestrator")
  .description("A durable distributed task orchestrator: Gateway, Scheduler and Workers over gRPC")
  .version(version)
  .showHelpAfterError();

for (const command of [...serviceCommands(), ...clientCommands(), ...actionCommands(), eventsCommand(), ...queueCommands(), concurrencyCommand(), scheduleCommand(), rateLimitCommand(), healthCommand()]) {
  program.addCommand(command);
}

try {
  await program.parseAsync(process.argv);
} catch (reason) {
  const error = OrchestratorError.from(reason);
  process.stderr.write(`error (${codeName(error.code)}): ${error.rawMessage}\n`);
  process.exitCode = 1;
}
