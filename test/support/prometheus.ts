/**
 * Reads Prometheus' text exposition format (version 0.0.4) as served by prom-client: `# TYPE`
 * lines and samples `name{label="value",…} value`. The one parser on the npm registry
 * (parse-prometheus-text-format) merges the series of a labelled histogram into one, so tests
 * read the samples themselves — each sample line on its own, with its labels unescaped.
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A scrape: its samples and each family's `# TYPE`. */
export interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
  /** The value of the one sample `name` whose labels include `labels`; throws when there is none or more than one. */
  value(name: string, labels?: Record<string, string>): number;
  /** Like {@link value}, but 0 when there is no such sample (a counter never incremented for that label). */
  valueOr0(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`not a sample value: ${v}`);
  return n;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) {
      if (text.slice(at).trim() === '') break;
      throw new Error(`malformed labels at ${at} in: ${line}`);
    }
    labels[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Parses a scrape; throws on a line that is neither a comment nor a sample. */
export function parseScrape(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t) types.set(t[1]!, t[2]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    samples.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3], line) : {}, value: parseValue(m[4]!) });
  }
  const matching = (name: string, labels: Record<string, string>): Sample[] =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    types,
    value(name, labels = {}) {
      const hits = matching(name, labels);
      if (hits.length !== 1) {
        throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${hits.length}`);
      }
      return hits[0]!.value;
    },
    valueOr0(name, labels = {}) {
      const hits = matching(name, labels);
      if (hits.length > 1)
        throw new Error(`expected at most one sample ${name}${JSON.stringify(labels)}, found ${hits.length}`);
      return hits[0]?.value ?? 0;
    },
  };
}

/** GETs `url` and parses it; throws unless the answer is 200 with Prometheus' text content type. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${body}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) {
    throw new Error(`GET ${url}: content-type ${type}, expected Prometheus text 0.0.4`);
  }
  return parseScrape(body);
}
