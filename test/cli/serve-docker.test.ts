/**
 * The Dockerfile cannot be built here (no Docker engine), so this checks what can be checked:
 * its shape (multi-stage on the current Node LTS, git, tini as PID 1, git trusting the mounted
 * checkout, non-root, HOST, the state volume, a health check on /healthz), that .dockerignore
 * lets in what the COPY lines read and keeps keys and env files out, and that the command it runs
 * works from a production-like install laid out by its own COPY lines: the server starts,
 * /healthz answers, and the HEALTHCHECK command passes.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import picomatch from "picomatch";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../helpers/cli.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions by stage: continuation lines joined, comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (current === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) current += `${line.slice(0, -1)} `;
    else {
      logical.push(`${current}${line}`.trim());
      current = "";
    }
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const args = line.slice(keyword.length).trim();
    if (keyword.toUpperCase() === "FROM") {
      const [from = "", as, name] = rest;
      stages.push({ from, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
  }
  return stages;
}

function all(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** `ENV A=1 B=2` pairs of a stage. */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of all(stage, "ENV")) for (const pair of args.split(/\s+/)) {
    const [name, ...value] = pair.split("=");
    if (name && value.length > 0) env[name] = value.join("=");
  }
  return env;
}

/**
 * Whether .dockerignore leaves `path` out of the build context: the last pattern matching it or
 * one of its parent directories wins, `!` lets it back in (Docker's rules).
 */
function dockerignored(lines: string[], path: string): boolean {
  const parts = path.split("/");
  const candidates = parts.map((_part, i) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    const matches = picomatch(negated ? line.slice(1) : line, { dot: true });
    if (candidates.some((candidate) => matches(candidate))) ignored = !negated;
  }
  return ignored;
}

const stages = parseDockerfile(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
const runtime = stages.at(-1)!;
const runtimeEnv = envOf(runtime);
const dockerignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
/** ENTRYPOINT, split at tini's `--`: what runs as PID 1 and the command it starts. */
const entrypointArgv = JSON.parse(all(runtime, "ENTRYPOINT")[0]!) as string[];
const pid1 = entrypointArgv.slice(0, entrypointArgv.indexOf("--") + 1);
const command = entrypointArgv.slice(pid1.length);

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

describe("Dockerfile", () => {
  it("builds in one stage and runs from a smaller one, with git, as a non-root user", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]!.name).toBe("build");
    expect(all(stages[0]!, "RUN").join(" ")).toMatch(/npm ci.*npm run build && npm prune --omit=dev/s);
    expect(all(runtime, "RUN").join(" ")).toMatch(/apt-get install[^&]*\bgit\b/);
    expect(all(runtime, "RUN").join(" ")).not.toMatch(/\bg\+\+|npm ci/);
    const user = all(runtime, "USER").at(-1);
    expect(user).toBeDefined();
    expect(["root", "0", "0:0"]).not.toContain(user);
  });

  it("runs the current Node LTS in both stages", () => {
    for (const stage of stages) expect(stage.from).toMatch(/^node:24-bookworm-slim$/);
  });

  it("runs tini as PID 1, so orphaned agent processes are reaped and signals reach pw", () => {
    expect(pid1).toEqual(["tini", "--"]);
    expect(all(runtime, "RUN").join(" ")).toMatch(/apt-get install[^&]*\btini\b/);
    expect(command.slice(0, 2)).toEqual(["node", "/app/dist/cli/main.js"]);
  });

  it("has git trust the checkout mounted at the working directory, whoever owns it", () => {
    const mount = all(runtime, "WORKDIR").at(-1);
    expect(all(runtime, "RUN")).toContain(`git config --system --add safe.directory ${mount}`);
  });

  it("builds from a context with what the COPY lines read, and no keys or env files", () => {
    const sources = stages.flatMap((stage) => all(stage, "COPY").filter((args) => !args.startsWith("--from=")).flatMap((args) => args.split(/\s+/).slice(0, -1)));
    expect(sources).toContain("src");
    for (const source of sources) expect(dockerignored(dockerignore, source), source).toBe(false);
    expect(dockerignored(dockerignore, "src/cli/main.ts")).toBe(false);
    for (const secret of ["app.private-key.pem", "keys/github-app.pem", "src/fixture.pem", ".env", ".env.local", "config/.env.production", ".envrc"]) {
      expect(dockerignored(dockerignore, secret), secret).toBe(true);
    }
    for (const other of [".git/config", "node_modules/x/index.js", "dist/cli/main.js", "test/cli/state.test.ts", "docs/app.md"]) {
      expect(dockerignored(dockerignore, other), other).toBe(true);
    }
  });

  it("listens on all interfaces, keeps PW_HOME in a volume and checks /healthz", () => {
    expect(runtimeEnv.HOST).toBe("0.0.0.0");
    expect(runtimeEnv.NODE_ENV).toBe("production");
    const volumes = all(runtime, "VOLUME").flatMap((args) => JSON.parse(args) as string[]);
    expect(volumes).toContain(runtimeEnv.PW_HOME);
    expect(all(runtime, "EXPOSE")).toContain(runtimeEnv.PORT);
    expect(all(runtime, "HEALTHCHECK")[0]).toMatch(/CMD \[.*\/healthz/);
  });

  it("runs `pw serve` from a production-like install: /healthz answers and the HEALTHCHECK passes", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    // lay out the image's /app the way the runtime stage's COPY lines do
    const image = tempDir("pw-image-");
    let workdir = "/";
    for (const { keyword, args } of runtime.instructions) {
      if (keyword === "WORKDIR") workdir = posix.resolve(workdir, args);
      if (keyword !== "COPY") continue;
      const parts = args.split(/\s+/);
      const fromBuild = parts[0]?.startsWith("--from=");
      const [source = "", dest = ""] = fromBuild ? parts.slice(1) : parts;
      const inRepo = fromBuild ? posix.relative("/app", source) : source;
      const target = join(image, posix.resolve(workdir, dest === "./" ? "." : dest), dest.endsWith("/") ? posix.basename(inRepo) : "");
      mkdirSync(join(target, ".."), { recursive: true });
      // node_modules stands in for the pruned production install
      if (inRepo === "node_modules") symlinkSync(join(ROOT, "node_modules"), target, "dir");
      else cpSync(join(ROOT, inRepo), target, { recursive: true });
    }
    const container = (path: string) => (path.startsWith("/app/") ? join(image, path) : path);
    // tini is not installed here: start what it would start
    const entrypoint = command.map(container);
    const cmd = JSON.parse(all(runtime, "CMD")[0]!) as string[];
    expect(entrypoint[0]).toBe("node");

    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...sb.env,
      ...runtimeEnv,
      PORT: String(port),
      PW_HOME: join(tempDir("pw-data-"), "data"),
      PW_WORKTREES_ROOT: join(tempDir("pw-wt-"), "worktrees"),
      WEBHOOK_SECRET: "docker-secret",
    };
    // the served repository is mounted at the final WORKDIR; here, the sandbox checkout
    expect(all(runtime, "WORKDIR").at(-1)).toBe("/repo");
    const child = spawn(process.execPath, [...entrypoint.slice(1), ...cmd], { cwd: sb.repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline && status !== 200) {
        if (child.exitCode !== null) throw new Error(`the image's command exited:\n${output}`);
        status = (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status ?? 0;
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(200);
      expect(output).toContain('"pw serve listening"');

      const healthcheck = JSON.parse(all(runtime, "HEALTHCHECK")[0]!.replace(/^.*?CMD\s+/s, "")) as string[];
      const check = spawnSync(process.execPath, healthcheck.slice(1), { env, encoding: "utf8", timeout: 10_000 });
      expect(check.status).toBe(0);
    } finally {
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });
});
