/** Where the status page answers. Everything under these prefixes is the page's; nothing else is. */
export const PAGE_PATH = "/workers";
export const STYLE_PATH = "/workers/style.css";
export const SCRIPT_PATH = "/workers/app.js";
export const EVENTS_PATH = "/workers/events";
export const API_PATH = "/api/workers";
