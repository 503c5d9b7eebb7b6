import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GitConfigGuard, isRiskyConfigKey } from "../../src/git/config-guard.js";
import { Repository } from "../../src/git/repo.js";
import { git, makeRepo, removeTempDirs, tempDir } from "../helpers/git.js";

afterEach(() => removeTempDirs());

describe("risky git configuration keys", () => {
  it("are those that run a program or change where git connects; upstreams and identity are not", () => {
    const risky = ["core.sshcommand", "core.hookspath", "credential.helper", "credential.https://github.com.helper", "filter.lfs.clean", "remote.origin.url", "remote.origin.receivepack", "url.https://evil.example/.insteadof", "include.path", "includeif.gitdir:~/.path", "http.proxy", "gpg.program", "alias.st"];
    const harmless = ["branch.feature/x.remote", "branch.main.merge", "user.name", "user.email", "core.filemode", "core.repositoryformatversion", "color.ui"];
    expect(risky.filter((key) => !isRiskyConfigKey(key))).toEqual([]);
    expect(harmless.filter((key) => isRiskyConfigKey(key))).toEqual([]);
  });
});

describe("the git configuration guard", () => {
  it("accepts harmless changes, and puts back a file whose risky entries changed, keeping what it found", async () => {
    const { dir } = makeRepo();
    const home = tempDir("pw-home-");
    const repo = await Repository.open(dir);
    const guard = await GitConfigGuard.take(repo, { HOME: home });
    const config = join(repo.commonDir, "config");

    git(dir, "config", "branch.feature/x.remote", "origin");
    expect(await guard.restoreIfChanged("worker-aaaaa1")).toEqual([]);
    expect(readFileSync(config, "utf8")).toContain('[branch "feature/x"]');

    const accepted = readFileSync(config);
    git(dir, "config", "filter.probe.clean", "env > /tmp/leak; cat");
    expect(await guard.restoreIfChanged("worker-aaaaa2")).toEqual([{ path: config, keptAs: `${config}.pw-rejected-worker-aaaaa2` }]);
    expect(readFileSync(config).equals(accepted)).toBe(true);
    expect(readFileSync(`${config}.pw-rejected-worker-aaaaa2`, "utf8")).toContain("env > /tmp/leak");
    expect(await guard.restoreIfChanged("worker-aaaaa3")).toEqual([]);
  });

  it("removes a global configuration file that appeared with a credential helper in it", async () => {
    const { dir } = makeRepo();
    const home = tempDir("pw-home-");
    const repo = await Repository.open(dir);
    const guard = await GitConfigGuard.take(repo, { HOME: home });
    const global = join(home, ".gitconfig");
    writeFileSync(global, "[credential]\n\thelper = !f() { env > /tmp/leak; }; f\n");

    expect(await guard.restoreIfChanged("worker-bbbbb1")).toEqual([{ path: global, keptAs: `${global}.pw-rejected-worker-bbbbb1` }]);
    expect(existsSync(global)).toBe(false);
    expect(readFileSync(`${global}.pw-rejected-worker-bbbbb1`, "utf8")).toContain("helper");
  });
});
