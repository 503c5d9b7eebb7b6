# syntax=docker/dockerfile:1
# parallel-workers: `pw serve` (the GitHub App and the runner in one process).
#   docker build -t parallel-workers .
#   docker run -p 3000:3000 --env-file .env -v pw-data:/data -v "$PWD":/repo parallel-workers
# The checkout at /repo must be writable by the container's user (uid 1000 unless you pass
# --user "$(id -u):$(id -g)"): see "Docker" in docs/app.md.

# ---- build: compile TypeScript, then drop the dev dependencies -------------------------------
# better-sqlite3 ships its binary for linux x64 and arm64 in the package: no compiler needed
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# ---- runtime: node, git, the compiled app; no compiler, no dev dependencies ------------------
FROM node:24-bookworm-slim AS runtime
# tini runs as PID 1: it reaps the agents' orphaned children and passes signals on to pw
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
# git refuses a repository owned by another user; the mounted checkout often is (another uid)
RUN git config --system --add safe.directory /repo
# HOME stays the node user's under --user with another uid too (a mounted ~/.gitconfig is found)
ENV NODE_ENV=production \
    HOME=/home/node \
    HOST=0.0.0.0 \
    PORT=3000 \
    PW_HOME=/data \
    PW_WORKTREES_ROOT=/worktrees
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY app.yml ./
# `pw init` copies the example task spec from here
COPY templates ./templates
# the image's own user (uid 1000); state, worktrees and the served checkout belong to it
RUN mkdir -p /data /worktrees /repo && chown node:node /data /worktrees /repo
USER node
# state.db and logs/: keep them across containers
VOLUME ["/data"]
# mount the repository to serve here (or pass --repo DIR for each)
WORKDIR /repo
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["serve"]
