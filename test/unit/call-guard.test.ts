// The one call guard of every port (src/util/auth.ts): a method missing from the access policy stops
// a service from starting, and the header-field count the README's Limits table states holds.
import { connect, constants, type OutgoingHttpHeaders } from "node:http2";
import { Client, credentials, Metadata, status, type handleUnaryCall } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { GatewayService, type HealthCheckResponse } from "../../packages/client/src/protocol/generated/orchestrator/v1/orchestrator.js";
import { startGrpcServer } from "../../packages/server/src/util/grpc-server.js";
import { rawCallStatus } from "../helpers/grpc.js";

describe("the call guard", () => {
  const cleanup: Array<() => Promise<void> | void> = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it("refuses to start a service with a method the access policy does not list", async () => {
    const withExtra = { ...GatewayService, extra: { ...GatewayService.healthCheck, path: "/orchestrator.v1.Gateway/Extra", originalName: "extra" } };
    await expect(startGrpcServer("orchestrator.v1.Gateway", withExtra, {}, "127.0.0.1", 0)).rejects.toThrow(
      /the access policy does not list orchestrator\.v1\.Gateway\/Extra/,
    );
  });

  it("lets a call carry 128 header fields in all, and resets the stream at the 129th before the service sees it (RESOURCE_EXHAUSTED)", async () => {
    const healthy: handleUnaryCall<unknown, HealthCheckResponse> = (_call, callback) => callback(null, { healthy: true, version: "test" });
    const server = await startGrpcServer("orchestrator.v1.Gateway", GatewayService, { healthCheck: healthy }, "127.0.0.1", 0);
    cleanup.push(() => server.shutdown(1000));

    // Exactly, with every field written out: 4 pseudo-headers, content-type, te, and the rest.
    const session = connect(`http://${server.address}`);
    cleanup.push(() => void session.close());
    const send = (fields: number): Promise<{ grpcStatus?: string; rstCode: number }> => new Promise((resolve) => {
      const headers: OutgoingHttpHeaders = { ":method": "POST", ":path": "/orchestrator.v1.Gateway/HealthCheck", ":scheme": "http", ":authority": server.address, "content-type": "application/grpc", te: "trailers" };
      for (let i = Object.keys(headers).length; i < fields; i++) headers[`x-entry-${i}`] = "a";
      const stream = session.request(headers);
      let grpcStatus: string | undefined;
      stream.on("trailers", (trailers) => (grpcStatus = String(trailers["grpc-status"])));
      stream.on("data", () => undefined);
      stream.on("error", () => undefined);
      stream.on("close", () => resolve({ grpcStatus, rstCode: stream.rstCode ?? 0 }));
      stream.end(Buffer.alloc(5)); // one empty message
    });
    expect(await send(128)).toEqual({ grpcStatus: "0", rstCode: 0 });
    expect(await send(129)).toEqual({ grpcStatus: undefined, rstCode: constants.NGHTTP2_ENHANCE_YOUR_CALM });
    expect(await send(6)).toEqual({ grpcStatus: "0", rstCode: 0 }); // the connection is still good

    // What a gRPC client makes of the reset. A grpc-js client with a deadline sends 10 fields of
    // its own (:method, :path, :scheme, :authority, te, content-type, user-agent,
    // grpc-accept-encoding, accept-encoding, grpc-timeout): 118 entries of the caller's fit.
    const client = new Client(server.address, credentials.createInsecure());
    cleanup.push(() => client.close());
    const withEntries = (count: number): Metadata => {
      const metadata = new Metadata();
      for (let i = 0; i < count; i++) metadata.set(`x-entry-${i}`, "a");
      return metadata;
    };
    expect((await rawCallStatus(client, GatewayService.healthCheck, withEntries(118))).code).toBe(status.OK);
    expect(await rawCallStatus(client, GatewayService.healthCheck, withEntries(119))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: "Bandwidth exhausted or memory limit exceeded",
    });
  });
});
