import { describe, expect, it } from "vitest";
import { isSecretName } from "../../src/core/secret-names.js";
import { agentEnvironment, setupEnvironment } from "../../src/runner/env.js";

const worker = { workerId: "worker-abc123", taskId: "T-1", description: "d", prompt: "p" };

describe("agent environment", () => {
  it.each(["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD", "PRIVATE_KEY", "private_key", "STRIPE_SECRET", "x_token"])(
    "%s looks secret",
    (name) => expect(isSecretName(name)).toBe(true),
  );

  it.each(["PATH", "HOME", "KEYBOARD", "TOKENIZER", "SECRETARY", "PASSWORD_POLICY"])("%s does not", (name) =>
    expect(isSecretName(name)).toBe(false),
  );

  it("passes only the allowlist, passthrough and agent env, never a secret", () => {
    const { env, dropped } = agentEnvironment({
      parent: {
        PATH: "/bin",
        HOME: "/home/u",
        LANG: "C.UTF-8",
        LC_ALL: "C",
        GITHUB_TOKEN: "ghp_x",
        AWS_SECRET_ACCESS_KEY: "s",
        NODE_OPTIONS: "--max-old-space-size=100",
        RANDOM_VAR: "r",
        DB_PASSWORD: "pw",
      },
      passthrough: ["NODE_OPTIONS", "GITHUB_TOKEN", "DB_PASSWORD"],
      agentEnv: { MODE: "fast", MY_API_KEY: "k", PRIVATE_KEY: "pem" },
      worker,
    });
    expect(env).toEqual({
      PATH: "/bin",
      HOME: "/home/u",
      LANG: "C.UTF-8",
      LC_ALL: "C",
      NODE_OPTIONS: "--max-old-space-size=100",
      MODE: "fast",
      PW_WORKER_ID: "worker-abc123",
      PW_TASK_ID: "T-1",
      PW_DESCRIPTION: "d",
      PW_PROMPT: "p",
      COMPOSE_PROJECT_NAME: "worker-abc123",
      PW_DB_NAME: "worker_abc123",
    });
    expect(dropped).toEqual(["DB_PASSWORD", "GITHUB_TOKEN", "MY_API_KEY", "PRIVATE_KEY"]);
  });

  it("gives a worker with ports PW_PORT, and its own names win over the same names passed through", () => {
    const { env } = agentEnvironment({
      parent: { PATH: "/bin", COMPOSE_PROJECT_NAME: "shared", PW_PORT: "80" },
      passthrough: ["COMPOSE_PROJECT_NAME", "PW_PORT"],
      agentEnv: { PW_DB_NAME: "shared_db" },
      worker: { ...worker, port: 4110 },
    });
    expect(env).toMatchObject({ PW_PORT: "4110", COMPOSE_PROJECT_NAME: "worker-abc123", PW_DB_NAME: "worker_abc123" });
  });

  it("setup gets the allowlist, the passthrough names and PW_PORT, nothing of a worker or an agent", () => {
    const { env, dropped } = setupEnvironment({
      parent: { PATH: "/bin", HOME: "/h", NPM_CONFIG_CACHE: "/c", GITHUB_TOKEN: "ghp_x", OTHER: "o" },
      passthrough: ["NPM_CONFIG_CACHE", "GITHUB_TOKEN"],
      port: 4100,
    });
    expect(env).toEqual({ PATH: "/bin", HOME: "/h", NPM_CONFIG_CACHE: "/c", PW_PORT: "4100" });
    expect(dropped).toEqual(["GITHUB_TOKEN"]);
    expect(setupEnvironment({ parent: { PATH: "/bin" }, passthrough: [], port: null }).env).toEqual({ PATH: "/bin" });
  });
});
