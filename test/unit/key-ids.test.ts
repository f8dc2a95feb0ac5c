// Key ids: what the operator actions' log lines name a key by, and whom the Scheduler believes
// about the client key behind a call.
import { createHash } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { gatewayClientKeyId, KeyRing, keyIdHeader, keyIdOf, schedulerCaller } from "../../packages/server/src/util/auth.js";

const clientKey = "client-key-0123456789abcdef";
const gatewayKey = "gateway-key-0123456789abcdef";
const keys = KeyRing.parse(`client:${clientKey}\ngateway:${gatewayKey}`, "test");

function metadata(bearer?: string, keyId?: string): Metadata {
  const result = new Metadata();
  if (bearer !== undefined) result.set("authorization", `Bearer ${bearer}`);
  if (keyId !== undefined) result.set(keyIdHeader, keyId);
  return result;
}

describe("key ids", () => {
  it("are the first 12 hex digits of the key's SHA-256, and never contain the key", () => {
    expect(keyIdOf(clientKey)).toBe(createHash("sha256").update(clientKey).digest("hex").slice(0, 12));
    expect(keyIdOf(clientKey)).toMatch(/^[0-9a-f]{12}$/);
    expect(keyIdOf(clientKey)).not.toBe(keyIdOf(gatewayKey));
  });

  it("the Gateway forwards the id of the key a client presented, only when it checks keys", () => {
    expect(gatewayClientKeyId(metadata(clientKey), keys)).toBe(keyIdOf(clientKey));
    expect(gatewayClientKeyId(metadata(), keys)).toBeUndefined();
    expect(gatewayClientKeyId(metadata(clientKey), KeyRing.empty)).toBeUndefined();
  });

  it("the Scheduler believes a forwarded id only from a gateway key; without keys it keeps it apart as claimed", () => {
    const id = keyIdOf(clientKey);
    expect(schedulerCaller(metadata(gatewayKey, id), keys)).toEqual({ keyId: id });
    expect(schedulerCaller(metadata(clientKey, id), keys)).toEqual({ keyId: "none" });
    expect(schedulerCaller(metadata(gatewayKey), keys)).toEqual({ keyId: "none" });
    expect(schedulerCaller(metadata(undefined, id), KeyRing.empty)).toEqual({ keyId: "none", claimedKeyId: id });
    expect(schedulerCaller(metadata(), KeyRing.empty)).toEqual({ keyId: "none" });
    // Anything but an id is not written to the log.
    expect(schedulerCaller(metadata(gatewayKey, "not-an-id key_id=forged"), keys)).toEqual({ keyId: "none" });
  });
});
