// Handlers for the bundled worker process: `npx orchestrator worker --handlers ./handlers.mjs`.
export const handlers = {
  "reverse-text": async (ctx) => {
    ctx.progress(10, "reversing");
    return [...ctx.payload.toString()].reverse().join("");
  },
};
