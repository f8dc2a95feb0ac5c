import { InterceptingCall, type Interceptor } from "@grpc/grpc-js";
import { OrchestratorError } from "../errors/orchestrator-error.js";

/** Characters a key may hold: those of hex, base64 and base64url, so it fits an HTTP/2 header. */
const keyPattern = /^[A-Za-z0-9._~+/=-]+$/;

/** Checks a key's characters and length; `what` names it in the error, the key itself never appears. */
export function checkKey(key: string, what: string, minLength: number): string {
  if (!keyPattern.test(key)) throw OrchestratorError.invalidArgument(`${what} holds characters other than A-Z a-z 0-9 . _ ~ + / = -`);
  if (key.length < minLength) {
    throw OrchestratorError.invalidArgument(`${what} is ${key.length} characters; a key needs at least ${minLength} (make one with: openssl rand -hex 32)`);
  }
  return key;
}

/** Adds `authorization: Bearer <key>` to every call of a client (unary and streaming alike). */
export function bearerInterceptor(key: string): Interceptor {
  checkKey(key, "the API key", 1);
  const value = `Bearer ${key}`;
  return (options, nextCall) => new InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => {
      metadata.set("authorization", value);
      next(metadata, listener);
    },
  });
}

/** Client constructor options that present `key`, if there is one. */
export function keyInterceptors(key: string | undefined): { interceptors?: Interceptor[] } {
  return key ? { interceptors: [bearerInterceptor(key)] } : {};
}
