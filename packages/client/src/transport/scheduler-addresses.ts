import { OrchestratorError } from "../errors/orchestrator-error.js";

/**
 * Where the Scheduler is: one `host:port`, or several Schedulers (on one shared store) as a
 * comma-separated list (`127.0.0.1:50052,127.0.0.1:50062`) or an array of `host:port`.
 */
export type SchedulerAddressList = string | readonly string[];

/** host:port; the host has no colon, space or comma (a comma separates list entries). */
const hostPort = /^([^\s:,]+):(\d{1,5})$/;

/**
 * The addresses of a list, each checked, in the order given. An error names the entry, says what
 * is wrong with it and what to write instead, since it is read by whoever typed `--scheduler`.
 */
export function parseSchedulerAddresses(value: SchedulerAddressList, option = "schedulerAddress"): string[] {
  const entries = typeof value === "string" ? value.split(",") : [...value];
  const given = typeof value === "string" ? `"${value}"` : JSON.stringify(value);
  if (entries.length === 0) {
    throw OrchestratorError.invalidArgument(`${option} is an empty list: give host:port of at least one Scheduler, e.g. 127.0.0.1:50052`);
  }
  const addresses = entries.map((entry, index) => {
    const address = String(entry).trim();
    if (address === "") {
      throw OrchestratorError.invalidArgument(
        `${option} ${given} has an empty entry (number ${index + 1} of ${entries.length}): write host:port there or remove the extra comma`,
      );
    }
    const match = hostPort.exec(address);
    if (!match) {
      throw OrchestratorError.invalidArgument(
        `${option} entry "${address}" must be host:port, e.g. 127.0.0.1:50052; several Schedulers are separated by commas: 127.0.0.1:50052,127.0.0.1:50062`,
      );
    }
    const port = Number(match[2]);
    if (port < 1 || port > 65535) {
      throw OrchestratorError.invalidArgument(`${option} entry "${address}" has port ${port}: a port is 1-65535`);
    }
    return address;
  });
  const twice = addresses.find((address, index) => addresses.indexOf(address) !== index);
  if (twice !== undefined) {
    throw OrchestratorError.invalidArgument(`${option} ${given} lists "${twice}" twice: give each Scheduler once`);
  }
  return addresses;
}

/**
 * Where in the list a process starts: at random, so that many workers and Gateways given the same
 * list spread over the Schedulers instead of all piling onto the first.
 */
export function randomStart(count: number): number {
  return Math.floor(Math.random() * count);
}

/** The addresses for messages: "the scheduler at a" or "the schedulers at a, b". */
export function describeSchedulers(addresses: readonly string[]): string {
  return addresses.length === 1 ? `the scheduler at ${addresses[0]}` : `the schedulers at ${addresses.join(", ")}`;
}
