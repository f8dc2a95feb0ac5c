import { credentials, ServerCredentials, type ChannelCredentials } from "@grpc/grpc-js";
import { OrchestratorError } from "../errors/orchestrator-error.js";
import { readSettingFile } from "./setting-file.js";

/** A PEM document: its bytes, or the path of the file that holds it. */
export type Pem = Buffer | string;

/** TLS of a listener. With `clientCa`, every client must present a certificate it signed (mutual TLS). */
export interface ServerTlsOptions {
  /** Certificate chain of the listener. */
  cert?: Pem;
  /** Private key of that certificate. */
  key?: Pem;
  /** CA that client certificates must chain to; setting it requires one from every client. */
  clientCa?: Pem;
}

/** TLS of a client. Giving the object (even empty) turns TLS on. */
export interface ClientTlsOptions {
  /** CA to trust for the server's certificate; unset: the system's trusted roots. */
  ca?: Pem;
  /** Client certificate and its key, for a server that requires mutual TLS. */
  cert?: Pem;
  key?: Pem;
}

/** A Buffer as it is; a string as the path of a file. `option` names it in errors, which never repeat the string (it may be a private key). */
function readPem(value: Pem, option: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const hint = value.includes("-----BEGIN")
    ? "A string is a file's path, and this one holds PEM text: pass the PEM as a Buffer (Buffer.from(pem)) or give its file's path"
    : "A string is a file's path; the PEM itself goes in a Buffer";
  return readSettingFile(value, `the ${option} option`, hint);
}

/** Whether the listener options turn TLS on. */
export function serverTlsEnabled(tls: ServerTlsOptions | undefined): boolean {
  return Boolean(tls && (tls.cert !== undefined || tls.key !== undefined || tls.clientCa !== undefined));
}

/** Plaintext when nothing is given; TLS with cert and key; mutual TLS with a client CA as well. */
export function serverCredentials(tls: ServerTlsOptions | undefined): ServerCredentials {
  if (!tls || !serverTlsEnabled(tls)) return ServerCredentials.createInsecure();
  if (tls.cert === undefined || tls.key === undefined) {
    throw OrchestratorError.invalidArgument("TLS needs both a certificate and its key: give --tls-cert and --tls-key (ORCHESTRATOR_TLS_CERT, ORCHESTRATOR_TLS_KEY)");
  }
  const keyPair = { cert_chain: readPem(tls.cert, "tls.cert"), private_key: readPem(tls.key, "tls.key") };
  const clientCa = tls.clientCa === undefined ? null : readPem(tls.clientCa, "tls.clientCa");
  return ServerCredentials.createSsl(clientCa, [keyPair], clientCa !== null);
}

/** Plaintext without options; TLS (and a client certificate when cert and key are given) with them. */
export function channelCredentials(tls: ClientTlsOptions | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw OrchestratorError.invalidArgument("a client certificate needs its key: give both the certificate and the key, or neither");
  }
  const ca = tls.ca === undefined ? null : readPem(tls.ca, "tls.ca");
  const key = tls.key === undefined ? null : readPem(tls.key, "tls.key");
  const cert = tls.cert === undefined ? null : readPem(tls.cert, "tls.cert");
  try {
    return credentials.createSsl(ca, key, cert);
  } catch (error) {
    throw OrchestratorError.invalidArgument(`invalid TLS material: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The client TLS options from CLI flags: undefined (plaintext) when none is given. */
export function clientTlsFromFlags(ca: Pem | undefined, cert: Pem | undefined, key: Pem | undefined): ClientTlsOptions | undefined {
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  return { ca, cert, key };
}
