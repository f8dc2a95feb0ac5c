import { Metadata, type CallOptions, type Client, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";

/** The fullest overload of a generated unary method: request, metadata, options, callback. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Calls a generated unary method with a deadline (and `metadata`); rejects with the raw grpc-js ServiceError. */
export function callUnary<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, request: Req, timeoutMs: number, metadata = new Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}
