// Loaded with `node --import` before the CLI: appends the URL of every module the process loads
// (import and require alike) to the file PW_TEST_MODULE_LOG names, so a test can tell what a
// command pulled in. Needs module.registerHooks (Node 22.15 and later).
import { appendFileSync } from "node:fs";
import module from "node:module";

const file = process.env.PW_TEST_MODULE_LOG;
if (file && module.registerHooks) {
  module.registerHooks({
    load(url, context, nextLoad) {
      appendFileSync(file, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}
