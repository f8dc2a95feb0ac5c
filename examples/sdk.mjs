// A worker and a client in one program: save as sdk.mjs next to `npm install orchestrator-ts-client`,
// start the services (`npx orchestrator dev`), then run `node sdk.mjs`.
import { OrchestratorClient, TaskFailure, Worker } from "orchestrator-ts-client";

// The worker serves "count-words": it connects to the Scheduler and runs what it is handed.
const worker = new Worker({
  schedulerAddress: "127.0.0.1:50052",
  slots: 8,
  handlers: {
    "count-words": async (ctx) => {
      const { text } = JSON.parse(ctx.payload.toString());
      if (typeof text !== "string") throw TaskFailure.nonRetryable("the payload needs a text field"); // no retry
      ctx.progress(50, `attempt ${ctx.attempt}: counting`);
      if (ctx.signal.aborted) throw new Error("cancelled or timed out"); // long handlers watch ctx.signal
      return { words: text.split(/\s+/).filter(Boolean).length }; // the task's result, as JSON
    },
  },
});
worker.start();

// The client submits through the Gateway and follows the task to its end.
const client = new OrchestratorClient({ address: "127.0.0.1:50051" });
const { taskId } = await client.submit({ name: "count-words", payload: { text: "hello durable world" }, maxRetries: 5 });
for await (const update of client.subscribe(taskId)) {
  console.log(update.sequence, update.state, `${update.percent}%`, update.message);
}
const task = await client.get(taskId);
console.log(task.state, JSON.parse(task.result.toString())); // succeeded { words: 3 }

const { tasks } = await client.list({ state: "failed", pageSize: 10 }); // string states throughout
console.log(`${tasks.length} failed tasks`);

// Without these the process would keep its connections open and never exit.
await worker.stop(); // finishes (or hands back) running tasks
client.close();
