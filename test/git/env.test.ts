import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pushBranch } from "../../src/git/commits.js";
import { gitEnvironment } from "../../src/git/env.js";
import { Repository } from "../../src/git/repo.js";
import { git, makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";

const SECRETS = {
  GITHUB_TOKEN: "ghp-runner-token-value",
  WEBHOOK_SECRET: "webhook-secret-value",
  PRIVATE_KEY: "private-key-value",
  LOKI_PASSWORD: "loki-password-value",
  PW_DASHBOARD_TOKEN: "dashboard-token-value",
  PRIVATE_KEY_PATH: "/secure/app.pem",
};

const saved = new Map<string, string | undefined>();
function setEnv(values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!saved.has(name)) saved.set(name, process.env[name]);
    process.env[name] = value;
  }
}

afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
  removeTempDirs();
});

describe("the environment of the runner's git commands", () => {
  it("keeps secrets, the runner's settings and what simple-git guards out; a push keeps only the GitHub token", () => {
    const parent = { PATH: "/usr/bin", HOME: "/home/me", LANG: "C.UTF-8", SSH_AUTH_SOCK: "/tmp/agent.sock", GH_TOKEN: "gh-value", GIT_DIR: "/elsewhere", EDITOR: "vi", ...SECRETS };
    expect(gitEnvironment(parent)).toEqual({ PATH: "/usr/bin", HOME: "/home/me", LANG: "C.UTF-8", SSH_AUTH_SOCK: "/tmp/agent.sock" });
    expect(gitEnvironment(parent, { push: true })).toEqual({
      PATH: "/usr/bin",
      HOME: "/home/me",
      LANG: "C.UTF-8",
      SSH_AUTH_SOCK: "/tmp/agent.sock",
      GH_TOKEN: "gh-value",
      GITHUB_TOKEN: "ghp-runner-token-value",
    });
  });

  it("a clean filter planted in .git/config runs inside `git add` without the runner's secrets", async () => {
    const { dir } = makeRepo();
    const dump = join(tempDir("pw-dump-"), "filter.env");
    git(dir, "config", "filter.probe.clean", `env > '${dump}'; cat`);
    writeFileSync(join(dir, ".gitattributes"), "*.txt filter=probe\n");
    writeFileSync(join(dir, "notes.txt"), "hello\n");
    setEnv(SECRETS);

    const repo = await Repository.open(dir);
    await repo.run(["add", "-A"]);

    // the planted command did run: what it saw is what a malicious agent would get
    expect(existsSync(dump)).toBe(true);
    const seen = readFileSync(dump, "utf8");
    expect(seen).toMatch(/^PATH=/m);
    for (const value of Object.values(SECRETS)) expect(seen).not.toContain(value);
  });

  it("a push gives a planted receive-pack command the GitHub token for a credential helper, and nothing else secret", async () => {
    const { dir } = makeRepo();
    const dump = join(tempDir("pw-dump-"), "push.env");
    git(dir, "checkout", "--quiet", "-b", "feature/probe");
    git(dir, "config", "remote.origin.receivepack", `env > '${dump}'; git-receive-pack`);
    setEnv(SECRETS);

    const repo = await Repository.open(dir);
    await pushBranch(repo, dir, "feature/probe");

    expect(existsSync(dump)).toBe(true);
    const seen = readFileSync(dump, "utf8");
    expect(seen).toContain(`GITHUB_TOKEN=${SECRETS.GITHUB_TOKEN}`);
    for (const [name, value] of Object.entries(SECRETS)) if (name !== "GITHUB_TOKEN") expect(seen).not.toContain(value);
  });
});
