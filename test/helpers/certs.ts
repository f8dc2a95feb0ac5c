import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A certificate and its key, as file paths. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  /** The CA that signs the server and the good client certificates. */
  ca: CertFiles;
  /** Server certificate for 127.0.0.1 and localhost. */
  server: CertFiles;
  /** Client certificate signed by `ca`, valid now. */
  client: CertFiles;
  /** Client certificate signed by `ca` whose validity ended in 2020. */
  expiredClient: CertFiles;
  /** Client certificate signed by another CA, which the services do not trust. */
  untrustedClient: CertFiles;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args.join(" ")} failed: ${stderr}`, { cause: error });
  }
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes a test PKI in `dir` with the openssl command: the same steps README "Security" shows.
 * The expired certificate is issued with `openssl ca` and explicit dates in the past.
 */
export function makeTestPki(dir: string): TestPki {
  writeFileSync(join(dir, "req.cnf"), [
    "[req]", "distinguished_name = dn", "prompt = no", "[dn]", "CN = placeholder",
    "[ca_ext]", "basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash",
  ].join("\n"));
  writeFileSync(join(dir, "server.ext"), "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n");
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage = clientAuth\n");

  const makeCa = (name: string, cn: string): CertFiles => {
    openssl(["req", "-x509", "-config", "req.cnf", "-extensions", "ca_ext", ...ecKey, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${cn}`], dir);
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };
  const issue = (name: string, cn: string, ca: string, ext: string): CertFiles => {
    openssl(["req", "-new", "-config", "req.cnf", ...ecKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", ext], dir);
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };

  const ca = makeCa("ca", "Orchestrator Test CA");
  const server = issue("server", "localhost", "ca", "server.ext");
  const client = issue("client", "worker-1", "ca", "client.ext");
  makeCa("other-ca", "Someone Else's CA");
  const untrustedClient = issue("untrusted", "worker-untrusted", "other-ca", "client.ext");

  // `openssl ca` takes explicit validity dates (x509 -req in OpenSSL 3.0 cannot backdate).
  mkdirSync(join(dir, "issued"));
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "1000\n");
  writeFileSync(join(dir, "ca.cnf"), [
    "[ca]", "default_ca = test_ca",
    "[test_ca]", `dir = ${dir}`, "database = $dir/index.txt", "new_certs_dir = $dir/issued", "serial = $dir/serial",
    "certificate = $dir/ca.crt", "private_key = $dir/ca.key", "default_md = sha256", "policy = any", "unique_subject = no",
    "x509_extensions = client_ext",
    "[any]", "commonName = supplied",
    "[client_ext]", "basicConstraints = CA:FALSE", "extendedKeyUsage = clientAuth",
  ].join("\n"));
  openssl(["req", "-new", "-config", "req.cnf", ...ecKey, "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=worker-expired"], dir);
  openssl(["ca", "-batch", "-config", "ca.cnf", "-in", "expired.csr", "-out", "expired.crt", "-notext", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"], dir);
  const expiredClient = { cert: join(dir, "expired.crt"), key: join(dir, "expired.key") };

  return { ca, server, client, expiredClient, untrustedClient };
}
