import { describe, expect, it } from "vitest";
import { parseUnifiedDiff } from "../../src/gates/diff.js";
import {
  ALLOW_SECRET_MARKER,
  SECRET_RULE_IDS,
  formatFinding,
  redact,
  renderFindings,
  scanAddedLines,
  scanDiff,
  scanText,
  scanUnifiedDiff,
  shannonEntropy,
  type SecretRuleId,
} from "../../src/gates/secrets.js";
import { tokenMaker } from "./tokens.js";

const t = tokenMaker(7);

/** [rule, a line holding the secret, the secret itself] */
const positives: [SecretRuleId, string, string][] = (() => {
  const rows: [SecretRuleId, (secret: string) => string, string][] = [
    ["aws-access-key-id", (s) => `AWS_ACCESS_KEY_ID=${s}`, t.awsKeyId()],
    ["aws-access-key-id", (s) => `  accessKeyId: "${s}",`, t.awsKeyId()],
    ["aws-secret-access-key", (s) => `aws_secret_access_key = ${s}`, t.awsSecret()],
    ["aws-secret-access-key", (s) => `    "SecretAccessKey": "${s}",`, t.awsSecret()],
    ["github-token", (s) => `GITHUB_TOKEN=${s}`, t.github("ghp")],
    ["github-token", (s) => `{"access_token":"${s}"}`, t.github("gho")],
    ["github-token", (s) => `auth = "token ${s}"`, t.github("ghu")],
    ["github-token", (s) => `token: ${s}`, t.github("ghs")],
    ["github-token", (s) => `refresh=${s}`, t.github("ghr")],
    ["github-token", (s) => `new Octokit({ auth: "${s}" })`, t.githubFineGrained()],
    ["slack-token", (s) => `SLACK_BOT_TOKEN=${s}`, t.slackBot()],
    ["slack-webhook", (s) => `const hook = "${s}";`, t.slackWebhook()],
    ["stripe-live-key", (s) => `Stripe.api_key = '${s}'`, t.stripeLive()],
    ["google-api-key", (s) => `  apiKey: "${s}",`, t.googleApiKey()],
    ["jwt", (s) => `curl -H "Authorization: Bearer ${s}" https://api.test`, t.jwt()],
    ["npm-token", (s) => `//registry.npmjs.org/:_authToken=${s}`, t.npm()],
    ["generic-secret", (s) => `DB_PASSWORD=${s}`, t.password()],
    ["generic-secret", (s) => `  "client_secret": "${s}",`, t.hex(32)],
    ["generic-secret", (s) => `API_KEY = "${s}"`, t.alnum(32)],
    ["generic-secret", (s) => `const apiKey = '${s}';`, t.alnum(24)],
    ["generic-secret", (s) => `spring.datasource.password=${s}`, t.password(14)],
    ["generic-secret", (s) => `$password = '${s}';`, t.password(12)],
    ["generic-secret", (s) => `mysqldump --password=${s} shop`, t.alnum(16)],
  ];
  return rows.map(([rule, line, secret]) => [rule, line(secret), secret]);
})();

describe("secret scanner: each kind is found", () => {
  it.each(positives)("%s in %j", (rule, line, secret) => {
    const findings = scanText(line, "config/settings.env");
    expect(findings.map((f) => f.rule)).toEqual([rule]);
    expect(findings[0]!.line).toBe(1);
    expect(line.slice(findings[0]!.column - 1).startsWith(secret.slice(0, 4))).toBe(true);
  });

  it("counts only quoted values in a source file, where a bare value is an expression", () => {
    const secret = t.alnum(20);
    expect(scanText(`password = ${secret}`, "app/db.py")).toEqual([]);
    expect(scanText(`password = "${secret}"`, "app/db.py")).toMatchObject([{ rule: "generic-secret" }]);
    expect(scanText(`password = ${secret}`, "config/db.ini")).toMatchObject([{ rule: "generic-secret" }]);
    expect(scanText(`  privateKey: privateKeyPkcs8,`, "README.md")).toEqual([]);
  });

  it("finds a private key block by its header when key material follows", () => {
    const lines = t.privateKeyLines();
    const findings = scanText(["# deploy key", ...lines].join("\n"), "deploy/key.pem");
    expect(findings).toMatchObject([{ rule: "private-key", line: 2, column: 1 }]);
  });

  it.each(["RSA ", "EC ", "OPENSSH ", "DSA ", "ENCRYPTED ", ""])("finds a %sPRIVATE KEY block", (kind) => {
    expect(scanText(t.privateKeyLines(kind).join("\n")).map((f) => f.rule)).toEqual(["private-key"]);
  });

  it("finds a private key inside a JSON string (a service account file)", () => {
    const [header, a, b, c, footer] = t.privateKeyLines("");
    const line = `  "private_key": "${header}\\n${a}\\n${b}\\n${c}\\n${footer}\\n",`;
    expect(scanText(line).map((f) => f.rule)).toEqual(["private-key"]);
  });

  it("finds a legacy encrypted PEM key after its header fields", () => {
    const [header, ...rest] = t.privateKeyLines();
    const text = [header, "Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF", "", ...rest].join("\n");
    expect(scanText(text).map((f) => f.rule)).toEqual(["private-key"]);
  });

  it("reports a value once, by its most specific rule", () => {
    const token = t.github("ghp");
    expect(scanText(`api_token = "${token}"`).map((f) => f.rule)).toEqual(["github-token"]);
  });

  it("reports every secret on a line, each at its column", () => {
    const id = t.awsKeyId();
    const secret = t.awsSecret();
    const line = `aws_access_key_id=${id} aws_secret_access_key=${secret}`;
    const findings = scanText(line);
    expect(findings.map((f) => [f.rule, f.column])).toEqual([
      ["aws-access-key-id", line.indexOf(id) + 1],
      ["aws-secret-access-key", line.indexOf(secret) + 1],
    ]);
  });

  it("covers every rule id in this table", () => {
    const covered = new Set([...positives.map(([rule]) => rule), "private-key"]);
    expect([...covered].sort()).toEqual([...SECRET_RULE_IDS].sort());
  });
});

describe("secret scanner: near misses are not reported", () => {
  it.each([
    ["a UUID", `session_token = "3f1b2c9e-7d4a-4e2b-9c61-0a8f5e2d7b13"`],
    ["a git SHA in a commit context", `"commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",`],
    ["a hex digest next to the word hash", `expected_secret = "5d41402abc4b2a76b9719d911017c592"  # md5 hash`],
    ["a lockfile integrity", `"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXGOjo/YLdVH5k0LqTwk5kv4s4QVA==",`],
    ["a data URI", `const placeholderToken = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==";`],
    ["a process.env read", `const token = process.env.GITHUB_TOKEN;`],
    ["a process.env read in an object", `  password: process.env.DB_PASSWORD,`],
    ["os.environ", `api_key = os.environ["OPENAI_API_KEY"]`],
    ["${VAR}", `      POSTGRES_PASSWORD: \${POSTGRES_PASSWORD}`],
    ["an Actions secret", `          token: \${{ secrets.GITHUB_TOKEN }}`],
    ["changeme", `DB_PASSWORD=changeme`],
    ["xxx", `API_KEY=xxxxxxxxxxxxxxxxxxxxxxxx`],
    ["<your-token>", `"token": "<your-token>"`],
    ["a TypeScript type", `  password: string;`],
    ["a comparison", `  if (password === confirmPassword) {`],
    ["a number of tokens", `  max_tokens: 4096,`],
    ["a word value", `credentials: "same-origin",`],
    ["a code identifier", `  privateKey: privateKeyPkcs8,`],
    ["a call", `const secret = await getSecret("db/password");`],
    ["a bcrypt hash", `  admin_password: "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",`],
    ["a short test password", `  password: "hunter2",`],
    ["a PEM header constant", `const HEADER = "-----BEGIN PRIVATE KEY-----";`],
    ["an elided PEM in docs", `-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----`],
    ["a public key", `-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----`],
    ["a truncated JWT", `Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...`],
    ["a JWT-shaped string whose header is not JSON", `x = "eyJub3RqwtZZZZZZZZZ.eyJhYmNkZWZnaGlqa2xt.c2lnbmF0dXJlc2lnbmF0dXJl"`],
    ["a token with a run of zeros", "GITHUB_TOKEN=ghp" + "_" + "0".repeat(36)],
  ])("%s", (_what, text) => {
    expect(scanText(text)).toEqual([]);
  });
});

describe("secret scanner: what it reads", () => {
  it(`skips a line carrying ${ALLOW_SECRET_MARKER}`, () => {
    const token = t.github("ghp");
    expect(scanText(`const fixture = "${token}"; // ${ALLOW_SECRET_MARKER}`)).toEqual([]);
    expect(scanText(`FIXTURE_TOKEN=${token} # ${ALLOW_SECRET_MARKER}\nREAL_TOKEN=${token}`)).toMatchObject([{ line: 2 }]);
  });

  it("allowlists a private key block by a marker on its header line", () => {
    const [header, ...rest] = t.privateKeyLines();
    expect(scanText([`${header} # ${ALLOW_SECRET_MARKER}`, ...rest].join("\n"))).toEqual([]);
  });

  it("reads only added lines of a diff: removed and context lines are ignored", () => {
    const removed = t.github("ghp");
    const context = t.stripeLive();
    const added = t.npm();
    const diff = [
      "diff --git a/.env b/.env",
      "index 1111111..2222222 100644",
      "--- a/.env",
      "+++ b/.env",
      "@@ -1,3 +1,3 @@",
      `-GITHUB_TOKEN=${removed}`,
      `+NPM_TOKEN=${added}`,
      ` STRIPE_KEY=${context}`,
      " DEBUG=1",
      "",
    ].join("\n");
    expect(scanUnifiedDiff(diff)).toEqual([{ rule: "npm-token", path: ".env", line: 1, column: 11, preview: "npm_…" }]);
  });

  it("uses new-file line numbers from the diff", () => {
    const files = parseUnifiedDiff(
      ["diff --git a/a.txt b/a.txt", "--- a/a.txt", "+++ b/a.txt", "@@ -10,2 +20,3 @@", " keep", `+TOKEN=${t.github("ghs")}`, " keep", "+end", ""].join("\n"),
    );
    expect(scanDiff(files)).toMatchObject([{ path: "a.txt", line: 21 }]);
  });

  it("needs the key material on consecutive added lines", () => {
    const [header, body] = t.privateKeyLines();
    expect(scanAddedLines("k.pem", [{ line: 1, text: header! }, { line: 2, text: body! }])).toHaveLength(1);
    // The body is a context line (not added): a header alone is not enough.
    expect(scanAddedLines("k.pem", [{ line: 1, text: header! }, { line: 5, text: body! }])).toEqual([]);
  });

  it("skips excluded paths", () => {
    const files = parseUnifiedDiff(
      ["diff --git a/fixtures/s.txt b/fixtures/s.txt", "--- a/fixtures/s.txt", "+++ b/fixtures/s.txt", "@@ -0,0 +1 @@", `+${t.github("ghp")}`, ""].join("\n"),
    );
    expect(scanDiff(files)).toHaveLength(1);
    expect(scanDiff(files, { exclude: ["fixtures/**"] })).toEqual([]);
  });
});

describe("secret scanner: redaction", () => {
  it("keeps at most 4 characters, fewer for short values", () => {
    expect(redact("abcdefghijklmnop")).toBe("abcd…");
    expect(redact("abcdefgh")).toBe("ab…");
    expect(redact("abc")).toBe("…");
  });

  it("never lets a secret into a finding or its rendering", () => {
    const lines = positives.map(([, line]) => line);
    const findings = scanText(lines.join("\n"), "leaks.txt");
    expect(findings).toHaveLength(positives.length);
    const rendered = [JSON.stringify(findings), renderFindings(findings), ...findings.map(formatFinding)].join("\n");
    for (const [, , secret] of positives) {
      expect(rendered).not.toContain(secret);
      // not even a long piece of it
      for (let i = 0; i + 8 <= secret.length; i++) expect(rendered).not.toContain(secret.slice(i, i + 8));
    }
    for (const finding of findings) {
      expect(Object.keys(finding).sort()).toEqual(["column", "line", "path", "preview", "rule"]);
      expect(finding.preview.length).toBeLessThanOrEqual(5);
      expect(finding.preview.endsWith("…")).toBe(true);
    }
  });

  it("renders a count, one line per finding and the way out", () => {
    const findings = scanText(`GITHUB_TOKEN=${t.github("ghp")}`, ".env");
    expect(renderFindings(findings)).toBe(
      [
        "1 possible secret in 1 file:",
        "  .env:1:14  github-token  ghp_…  (GitHub token)",
        `remove the value and rotate it; if it is not a secret, add a "${ALLOW_SECRET_MARKER}" comment on its line`,
      ].join("\n"),
    );
    expect(renderFindings([])).toBe("no secrets found in added lines");
  });
});

describe("entropy", () => {
  it.each([
    ["", 0],
    ["aaaa", 0],
    ["abab", 1],
    ["abcd", 2],
  ])("%j has %d bits per character", (value, bits) => {
    expect(shannonEntropy(value)).toBeCloseTo(bits, 5);
  });
});
