// The Scheduler in-process, with a manual clock and fake worker streams, on every store backend.
import { describeSchedulerSuite } from "./scheduler-suite.js";
import { storeBackends } from "../helpers/stores.js";

for (const backend of storeBackends) describeSchedulerSuite(backend);
