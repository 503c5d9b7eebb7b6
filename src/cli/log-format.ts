import { Option } from "commander";
import { LOG_FORMATS } from "../log/env.js";

/** `--log-format` of the long-running commands (`loop`, `serve`), which log to stdout. */
export function logFormatOption(): Option {
  return new Option(
    "--log-format <format>",
    "pretty: one readable line per event; json: JSON lines (default: PW_LOG_FORMAT, else pretty on a terminal, json otherwise)",
  ).choices(LOG_FORMATS);
}
