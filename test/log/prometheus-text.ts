/** A strict reader of the Prometheus text exposition format (version 0.0.4), for tests. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_NAME = "[a-zA-Z_][a-zA-Z0-9_]*";
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
// Prometheus reads values with Go's ParseFloat: Inf and NaN in any case (prom-client writes "Nan").
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?[Ii][Nn][Ff]|[Nn][Aa][Nn])";
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(
  `^(${NAME})(?:\\{(?:((?:${LABEL_NAME}=${LABEL_VALUE})(?:,${LABEL_NAME}=${LABEL_VALUE})*),?)?\\})? (${VALUE})(?: (-?\\d+))?$`,
);
const LABEL_PAIR = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, "g");

function unescape(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\(["\\n])/g, (_match, char: string) => (char === "n" ? "\n" : char));
}

function toNumber(text: string): number {
  const lower = text.toLowerCase();
  if (lower === "nan") return Number.NaN;
  if (lower.endsWith("inf")) return lower.startsWith("-") ? -Infinity : Infinity;
  return Number(text);
}

/** The family a sample belongs to: its own name, or a histogram/summary with a suffix stripped. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(sample);
  if (own) return own;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sample.endsWith(suffix)) continue;
    const family = families.get(sample.slice(0, -suffix.length));
    if (family && (family.type === "histogram" || (family.type === "summary" && suffix !== "_bucket"))) return family;
  }
  return undefined;
}

/** Parses `text`, throwing on the first line that breaks the grammar (with its number). */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const lines = text.split("\n");
  if (lines.at(-1) !== "") throw new Error("exposition does not end with a newline");
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    if (line === "") return;
    let match = HELP_LINE.exec(line);
    if (match) {
      helps.set(match[1]!, match[2]!);
      return;
    }
    match = TYPE_LINE.exec(line);
    if (match) {
      const name = match[1]!;
      if (families.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
      families.set(name, { name, type: match[2] as Family["type"], help: helps.get(name) ?? "", samples: [] });
      return;
    }
    if (line.startsWith("#")) throw new Error(`${where}: a comment that is neither HELP nor TYPE`);
    match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`${where}: not a sample line`);
    const name = match[1]!;
    const family = familyOf(name, families);
    if (!family) throw new Error(`${where}: sample ${name} has no TYPE line before it`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(LABEL_PAIR)) {
      if (pair[1]! in labels) throw new Error(`${where}: label ${pair[1]} twice`);
      labels[pair[1]!] = unescape(pair[2]!);
    }
    family.samples.push({ name, labels, value: toNumber(match[3]!) });
  });
  for (const family of families.values()) {
    if (family.help === "") throw new Error(`${family.name} has no HELP line`);
  }
  return families;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = familyOf(name, families);
  const matches = (family?.samples ?? []).filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}
