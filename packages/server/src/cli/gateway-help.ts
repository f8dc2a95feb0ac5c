import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Code, OrchestratorError } from "orchestrator-ts-client";

/** Where the CLI's Gateway address came from ("cli", "env", "default": commander's option value source), for the message that names it. */
export type AddressSource = string | undefined;

export interface GatewayTarget {
  address: string;
  source: AddressSource;
  /** Whether the call used TLS (--tls-ca, --tls-cert or their variables). */
  tls: boolean;
}

/** What is at the Gateway's address, as seen by opening a connection of our own. */
type Listener = "nothing" | "unresolved" | "tls" | "plaintext" | "unknown";

const probeTimeoutMs = 2000;

function hostAndPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? "", port: Number(match[3]) };
}

/** Whether a TCP connection opens: "nothing" when refused, "unresolved" when the name does not resolve. */
function tcpProbe(host: string, port: number): Promise<"open" | "nothing" | "unresolved" | "unknown"> {
  return new Promise((resolve) => {
    // Node (20 and later) tries every address of a name, so "localhost" finds a Gateway on
    // 127.0.0.1 even when ::1 comes first; the TLS probe below connects the same way.
    const socket = tcpConnect({ host, port });
    const done = (outcome: "open" | "nothing" | "unresolved" | "unknown"): void => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(probeTimeoutMs, () => done("unknown"));
    socket.once("connect", () => done("open"));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") done("nothing");
      else if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN") done("unresolved");
      else done("unknown");
    });
  });
}

/**
 * Whether the listener answers a TLS handshake. Its certificate is not checked: this only asks
 * which protocol it speaks. A TLS alert (a server that wants a client certificate) is TLS too; a
 * plaintext HTTP/2 server answers with bytes that are no TLS record ("wrong version number").
 */
function speaksTls(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"] });
    const done = (tls: boolean): void => {
      socket.destroy();
      resolve(tls);
    };
    socket.setTimeout(probeTimeoutMs, () => done(false));
    socket.once("secureConnect", () => done(true));
    socket.once("error", (error: NodeJS.ErrnoException) => done(/ALERT/.test(error.code ?? "")));
  });
}

async function probe(address: string): Promise<Listener> {
  const target = hostAndPort(address);
  if (!target) return "unknown";
  const tcp = await tcpProbe(target.host, target.port);
  if (tcp !== "open") return tcp;
  return (await speaksTls(target.host, target.port)) ? "tls" : "plaintext";
}

function named(target: GatewayTarget): string {
  const from = target.source === "cli" ? "from --gateway" : target.source === "env" ? "from ORCHESTRATOR_GATEWAY_ADDRESS" : "the default";
  return `the Gateway at ${target.address} (${from})`;
}

const startHint = 'Is the Gateway running? Start it with "orchestrator gateway" (or all three services in one process with "orchestrator dev").';
const addressHint = "Another address: --gateway host:port or ORCHESTRATOR_GATEWAY_ADDRESS.";
const tlsHint = "Give the CA that signed its certificate: --tls-ca ca.crt (or ORCHESTRATOR_CLIENT_TLS_CA); for mutual TLS also --tls-cert and --tls-key.";

/** The cause in grpc-js's text, without "No connection established. Last error:" and the empty "Resolution note:". */
function grpcDetail(error: OrchestratorError): string {
  const text = error.rawMessage.replace(/\s*Resolution note:\s*$/, "").trim();
  return /^No connection established\. Last error: (?:Error: )?([\s\S]+)$/.exec(text)?.[1]?.trim() ?? text;
}

/**
 * Turns an UNAVAILABLE that came from failing to reach the Gateway into what was tried and what to
 * do. grpc-js says only "No connection established", and a plaintext call to a TLS listener looks
 * like any other failed connection, so the CLI looks for itself: is anything listening there, and
 * does it speak TLS? When the Gateway is reachable in the protocol the call used, the UNAVAILABLE
 * came from the Gateway itself (a Scheduler it cannot reach) and already says so: kept as it is.
 */
export async function explainGatewayError(reason: unknown, target: GatewayTarget): Promise<OrchestratorError> {
  const error = OrchestratorError.from(reason);
  if (error.code !== Code.Unavailable) return error;
  const listener = await probe(target.address);
  const lines: string[] = [];
  if ((listener === "tls" && target.tls) || (listener === "plaintext" && !target.tls)) {
    // grpc-js's own words for a connection that failed after all (a certificate not trusted);
    // anything else came from the Gateway.
    if (!error.rawMessage.startsWith("No connection established")) return error;
    if (target.tls && /certificate required/i.test(error.rawMessage)) {
      lines.push(
        `cannot reach ${named(target)}: it requires a client certificate (mutual TLS) and this call presented none.`,
        "Give one its CA signed: --tls-cert client.crt --tls-key client.key (or ORCHESTRATOR_CLIENT_TLS_CERT, ORCHESTRATOR_CLIENT_TLS_KEY).",
      );
    } else {
      lines.push(`cannot reach ${named(target)}: ${grpcDetail(error)}`);
      if (target.tls) lines.push("Check that --tls-ca is the CA that signed the Gateway's certificate and that the address is a name in it.");
    }
    return new OrchestratorError(Code.Unavailable, lines.join("\n  "), { cause: error });
  }
  switch (listener) {
    case "nothing":
      lines.push(`cannot reach ${named(target)}: nothing is listening there (connection refused).`, startHint, addressHint);
      break;
    case "unresolved":
      lines.push(`cannot reach ${named(target)}: the host name does not resolve.`, addressHint);
      break;
    case "tls":
      lines.push(`cannot reach ${named(target)}: it speaks TLS and this call was plaintext.`, tlsHint);
      break;
    case "plaintext":
      lines.push(
        `cannot reach ${named(target)}: this call used TLS but the Gateway there speaks plaintext.`,
        "Drop --tls-ca, --tls-cert and --tls-key (and ORCHESTRATOR_CLIENT_TLS_*), or start the Gateway with --tls-cert and --tls-key.",
      );
      break;
    case "unknown":
      lines.push(`cannot reach ${named(target)}: ${grpcDetail(error)}`, startHint, addressHint);
      if (!target.tls) lines.push(`If that Gateway uses TLS: ${tlsHint}`);
      break;
  }
  return new OrchestratorError(Code.Unavailable, lines.join("\n  "), { cause: error });
}
