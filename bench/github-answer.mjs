// What a spawn's preflight asks GitHub, answered locally, so a bench can spawn as a person
// would without reaching github.com: `GET /repos/{owner}/{repo}` says the repository exists and
// names its default branch. Everything else is 404. Returns the environment that points pw at it.
import { createServer } from "node:http";

export async function startRepositoryAnswer(repository, defaultBranch = "main") {
  const server = createServer((request, response) => {
    const known = request.method === "GET" && request.url?.split("?")[0] === `/api/v3/repos/${repository}`;
    response.writeHead(known ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(known ? { full_name: repository, default_branch: defaultBranch, archived: false } : { message: "Not Found" }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    env: { GHE_HOST: `127.0.0.1:${port}`, GHE_PROTOCOL: "http", GITHUB_TOKEN: "bench-token" },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
