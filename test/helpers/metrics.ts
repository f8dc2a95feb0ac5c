// Reading a service's /metrics as Prometheus does: the text exposition, parsed into samples.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (raw as string).replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The scraped series of one service, looked up by name and labels. */
export class Scrape {
  constructor(readonly samples: readonly Sample[]) {}

  /** The sum of the samples named `name` whose labels include `labels`; 0 when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, sample) => sum + sample.value, 0);
  }

  matching(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  }

  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }
}

/** GETs a service's HTTP listener path; `key` goes as a bearer token. */
export async function httpGet(address: string, path: string, key?: string): Promise<{ status: number; body: string; contentType: string | null }> {
  const response = await fetch(`http://${address}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: response.status, body: await response.text(), contentType: response.headers.get("content-type") };
}

/** Scrapes /metrics; fails on any status but 200. */
export async function scrape(address: string, key?: string): Promise<Scrape> {
  const { status, body } = await httpGet(address, "/metrics", key);
  if (status !== 200) throw new Error(`GET http://${address}/metrics answered ${status}: ${body}`);
  return new Scrape(parseExposition(body));
}
