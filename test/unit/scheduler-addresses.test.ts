// The --scheduler list: what is accepted, and what an error says to fix.
import { describe, expect, it } from "vitest";
import { parseSchedulerAddresses, randomStart } from "../../packages/client/src/transport/scheduler-addresses.js";
import { compileWorkerOptions } from "../../packages/client/src/worker/options.js";
import { compileGatewayOptions } from "../../packages/server/src/gateway/options.js";

const handlers = { noop: () => null };

describe("parseSchedulerAddresses", () => {
  it("takes one address, a comma-separated list (spaces around entries allowed) or an array, in order", () => {
    expect(parseSchedulerAddresses("127.0.0.1:50052")).toEqual(["127.0.0.1:50052"]);
    expect(parseSchedulerAddresses("127.0.0.1:50052, localhost:50062 ,sched-c.internal:7")).toEqual(["127.0.0.1:50052", "localhost:50062", "sched-c.internal:7"]);
    expect(parseSchedulerAddresses(["b:2", "a:1"])).toEqual(["b:2", "a:1"]);
  });

  it.each([
    ["a:1,,b:2", 'schedulerAddress "a:1,,b:2" has an empty entry (number 2 of 3): write host:port there or remove the extra comma'],
    ["a:1,", 'schedulerAddress "a:1," has an empty entry (number 2 of 2)'],
    ["", 'schedulerAddress "" has an empty entry (number 1 of 1)'],
    ["a:1,b", 'schedulerAddress entry "b" must be host:port, e.g. 127.0.0.1:50052; several Schedulers are separated by commas'],
    ["a:1;b:2", 'schedulerAddress entry "a:1;b:2" must be host:port'],
    ["a:0", 'schedulerAddress entry "a:0" has port 0: a port is 1-65535'],
    ["a:65536", 'schedulerAddress entry "a:65536" has port 65536: a port is 1-65535'],
    ["a:1,b:2,a:1", 'schedulerAddress "a:1,b:2,a:1" lists "a:1" twice: give each Scheduler once'],
  ])("refuses %j, saying what to fix", (value, message) => {
    expect(() => parseSchedulerAddresses(value)).toThrow(message);
  });

  it("refuses an empty array", () => {
    expect(() => parseSchedulerAddresses([])).toThrow("schedulerAddress is an empty list: give host:port of at least one Scheduler");
  });

  it("names the option the value came from", () => {
    expect(() => parseSchedulerAddresses("x", "--scheduler")).toThrow('--scheduler entry "x" must be host:port');
  });

  it("starts anywhere in the list", () => {
    const starts = new Set(Array.from({ length: 200 }, () => randomStart(3)));
    expect(starts).toEqual(new Set([0, 1, 2]));
  });
});

describe("the worker's and the Gateway's options", () => {
  it("compile a list to its addresses and check each", () => {
    expect(compileWorkerOptions({ handlers, schedulerAddress: "a:1,b:2" }).schedulerAddresses).toEqual(["a:1", "b:2"]);
    expect(compileWorkerOptions({ handlers }).schedulerAddresses).toEqual(["127.0.0.1:50052"]);
    expect(() => compileWorkerOptions({ handlers, schedulerAddress: "a:1,,b:2" })).toThrow("empty entry");
    expect(compileGatewayOptions({ schedulerAddress: ["a:1", "b:2"] }).schedulerAddresses).toEqual(["a:1", "b:2"]);
    expect(compileGatewayOptions({}).schedulerAddresses).toEqual(["127.0.0.1:50052"]);
    expect(() => compileGatewayOptions({ schedulerAddress: "a:99999" })).toThrow("has port 99999");
  });

  it("take claim-ahead off by default and check its prefetch", () => {
    expect(compileWorkerOptions({ handlers }).prefetch).toBe(0);
    expect(compileWorkerOptions({ handlers, prefetch: 224 }).prefetch).toBe(224);
    expect(() => compileWorkerOptions({ handlers, prefetch: -1 })).toThrow("prefetch must be between 0 and 10000, got -1");
    expect(() => compileWorkerOptions({ handlers, prefetch: 1.5 })).toThrow("prefetch must be between 0 and 10000, got 1.5");
  });
});
