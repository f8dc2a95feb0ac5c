import { OrchestratorError } from "orchestrator-ts-client/internal";

// A listing's page token, on either backend: the last listed task's seq, base64url-encoded.

export function decodeListCursor(cursor: string): number {
  const seq = Number(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!Number.isSafeInteger(seq) || seq <= 0) throw OrchestratorError.invalidArgument("page_token is not a token this server issued");
  return seq;
}

export function encodeListCursor(seq: unknown): string {
  return Buffer.from(String(seq)).toString("base64url");
}
