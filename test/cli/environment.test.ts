/**
 * Every bad environment value is refused before a command does anything: exit 2, one line on
 * stderr naming the variable (never a secret's value), and nothing made. The built CLI as a
 * child process, in a directory that is not a repository, so nothing else could go wrong first.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pw } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";

afterAll(() => removeTempDirs());

const dir = tempDir("pw-env-");
const home = join(dir, "home");
const aFile = join(dir, "a-file");
writeFileSync(aFile, "not a directory\n");
const aDirectory = join(dir, "a-directory");
mkdirSync(aDirectory);
const PEM = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const SECRET = "s3cr3t-value-never-shown";
const FAKE_PEM = `-----BEGIN RSA PRIVATE KEY-----\n${SECRET}\n-----END RSA PRIVATE KEY-----\n`;

/** Variables as a shell sets them (Probot's typing of LOG_LEVEL would refuse the bad ones). */
type Vars = Record<string, string>;

/** What the test runner's own environment might hold is cleared: an empty variable counts as unset. */
const clean: Vars = {
  PW_HOME: home,
  PW_WORKTREES_ROOT: join(dir, "worktrees"),
  APP_ID: "",
  PRIVATE_KEY: "",
  PRIVATE_KEY_PATH: "",
  GITHUB_TOKEN: "",
  GHE_HOST: "",
  GHE_PROTOCOL: "",
  LOKI_URL: "",
  LOKI_USERNAME: "",
  LOKI_PASSWORD: "",
  LOG_LEVEL: "",
  PW_LOG_FORMAT: "",
  PW_DASHBOARD_TOKEN: "",
  WEBHOOK_SECRET: "",
  WEBHOOK_PROXY_URL: "",
  NODE_ENV: "",
  PORT: "",
  HOST: "",
};
const app = { APP_ID: "12345", PRIVATE_KEY: PEM, WEBHOOK_SECRET: "hook-secret" };
const LIST = "worker list";
const LOOP = "loop --until-idle";

/** [what, the command line after `pw`, the environment, the line it must print] */
const CASES: Array<[string, string, Vars, string | RegExp]> = [
  ["LOKI_URL not a URL", LIST, { LOKI_URL: "loki" }, 'environment variable LOKI_URL "loki" is not a URL: use http(s)://host:port, like http://localhost:3100'],
  [
    "LOKI_URL with a password",
    LIST,
    { LOKI_URL: `http://user:${SECRET}@loki:3100` },
    "environment variable LOKI_URL must not contain a user name or password: use LOKI_USERNAME and LOKI_PASSWORD",
  ],
  [
    "LOKI_USERNAME without LOKI_PASSWORD",
    LIST,
    { LOKI_URL: "http://loki:3100", LOKI_USERNAME: "me" },
    "environment variable LOKI_PASSWORD is not set but LOKI_USERNAME is: set both for basic auth, or neither",
  ],
  ["LOG_LEVEL unknown", LIST, { LOG_LEVEL: "loud" }, 'environment variable LOG_LEVEL "loud" is not a log level: use one of fatal, error, warn, info, debug, trace, silent'],
  ["PW_PHASE with a space", LIST, { PW_PHASE: "a b" }, `environment variable PW_PHASE "a b" is not a valid phase: use up to 32 letters, digits, '.', '_' or '-'`],
  ["PW_LOG_FORMAT unknown", LIST, { PW_LOG_FORMAT: "fancy" }, 'environment variable PW_LOG_FORMAT "fancy" is not a log format: use pretty or json'],
  ["PW_HOME empty", LIST, { PW_HOME: "" }, "environment: PW_HOME: must not be empty"],
  ["PW_HOME a file", LIST, { PW_HOME: aFile }, new RegExp(`^PW_HOME ${aFile} cannot be used \\(E[A-Z]+\\): set PW_HOME to a directory you can write$`)],
  ["PW_HOME under a file", "state list", { PW_HOME: join(aFile, "home") }, new RegExp(`^PW_HOME ${aFile}/home cannot be used \\(ENOTDIR\\)`)],
  ["PW_WORKTREES_ROOT empty", LIST, { PW_WORKTREES_ROOT: "" }, "environment: PW_WORKTREES_ROOT: must not be empty"],
  [
    "APP_ID without a key",
    LOOP,
    { APP_ID: "12345" },
    "APP_ID is set but neither PRIVATE_KEY nor PRIVATE_KEY_PATH is: set one to the App's private key (or unset APP_ID and use GITHUB_TOKEN)",
  ],
  ["APP_ID not a number", LOOP, { APP_ID: "my-app", GITHUB_TOKEN: SECRET }, `environment: APP_ID: expected the App's numeric id, got "my-app"`],
  [
    "PRIVATE_KEY_PATH missing",
    LOOP,
    { APP_ID: "12345", PRIVATE_KEY_PATH: join(dir, "nope.pem") },
    `PRIVATE_KEY_PATH ${join(dir, "nope.pem")} cannot be read (ENOENT): point it at the App's .pem file`,
  ],
  [
    "PRIVATE_KEY_PATH a directory",
    LOOP,
    { APP_ID: "12345", PRIVATE_KEY_PATH: aDirectory },
    `PRIVATE_KEY_PATH ${aDirectory} cannot be read (EISDIR): point it at the App's .pem file`,
  ],
  [
    "PRIVATE_KEY_PATH not a key",
    LOOP,
    { APP_ID: "12345", PRIVATE_KEY_PATH: aFile },
    `PRIVATE_KEY_PATH ${aFile} is not a PEM private key (nor base64 of one): use the .pem file GitHub gave for the App`,
  ],
  ["PRIVATE_KEY not PEM", LOOP, { APP_ID: "12345", PRIVATE_KEY: SECRET }, "PRIVATE_KEY is not a PEM private key (nor base64 of one): use the .pem file GitHub gave for the App"],
  [
    "PRIVATE_KEY a PEM block that is no key",
    LOOP,
    { APP_ID: "12345", PRIVATE_KEY: FAKE_PEM },
    "PRIVATE_KEY holds a PEM block that is not a readable private key: use the .pem file GitHub gave for the App",
  ],
  ["GHE_PROTOCOL unknown", LOOP, { GHE_PROTOCOL: "ftp" }, 'environment: GHE_PROTOCOL: expected http or https, got "ftp"'],
  ["GHE_HOST with a path", LOOP, { GHE_HOST: "ghe.example.com/api" }, 'environment: GHE_HOST: expected a host name, optionally with :port, like github.example.com, got "ghe.example.com/api"'],
  [
    "PW_GITHUB_WRITE_INTERVAL_MS not a number",
    LOOP,
    { PW_GITHUB_WRITE_INTERVAL_MS: "fast" },
    'environment: PW_GITHUB_WRITE_INTERVAL_MS: expected a whole number of milliseconds from 0 to 60000, got "fast"',
  ],
  ["spawn --wait with a bad GHE_PROTOCOL", "worker spawn --task-id T-1 --description d --wait", { GHE_PROTOCOL: "ftp" }, 'environment: GHE_PROTOCOL: expected http or https, got "ftp"'],
  ["submit without credentials", "worker submit worker-abc123", {}, "no GitHub credentials: set GITHUB_TOKEN, or APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH"],
  ["reconcile without credentials", "reconcile", {}, "no GitHub credentials: set GITHUB_TOKEN, or APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH"],
  ["serve with a bad key", "serve", { ...app, PRIVATE_KEY: SECRET }, "PRIVATE_KEY is not a PEM private key (nor base64 of one): use the .pem file GitHub gave for the App"],
  ["serve without WEBHOOK_SECRET", "serve", { ...app, WEBHOOK_SECRET: "" }, "WEBHOOK_SECRET is not set: set it to the webhook secret of the GitHub App"],
  ["serve with a bad WEBHOOK_PROXY_URL", "serve", { ...app, WEBHOOK_PROXY_URL: "ftp://smee.io/x" }, "environment: WEBHOOK_PROXY_URL: expected an http(s) URL, like https://smee.io/abc"],
  ["serve with a short PW_DASHBOARD_TOKEN", "serve", { ...app, PW_DASHBOARD_TOKEN: "short" }, "PW_DASHBOARD_TOKEN is too short: use at least 16 characters, e.g. `openssl rand -hex 32`"],
  [
    "serve in production without credentials",
    "serve",
    { NODE_ENV: "production" },
    "no GitHub App credentials (NODE_ENV=production): set APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH, and WEBHOOK_SECRET",
  ],
  ["serve with a bad PW_LOG_FORMAT", "serve", { ...app, PW_LOG_FORMAT: "fancy" }, 'environment variable PW_LOG_FORMAT "fancy" is not a log format: use pretty or json'],
];

describe("a bad environment value", () => {
  it.each(CASES)("%s: `pw %s` exits 2 naming it, with nothing made", async (_name, command, env, said) => {
    const result = await pw(command.split(" "), { cwd: dir, env: { ...clean, ...env } as NodeJS.ProcessEnv });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.endsWith("\n")).toBe(true);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const line = lines[0]!.replace(/^pw: /, "");
    if (typeof said === "string") expect(line).toBe(said);
    else expect(line).toMatch(said);
    expect(result.stderr).not.toContain(SECRET);
    expect(existsSync(home)).toBe(false);
  });
});
