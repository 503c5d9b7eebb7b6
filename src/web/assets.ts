/**
 * The page's stylesheet and script, served from their own routes so the Content-Security-Policy
 * can forbid inline script and style. Small and dependency-free: the page works offline and
 * needs no front-end build.
 */
import { createHash } from "node:crypto";
import { EVENTS_PATH, PAGE_PATH } from "./routes.js";

// Badge colours keep at least 7:1 contrast with their text; bars and timelines repeat the state
// as text (legend, titles), so colour is never the only carrier.
const STYLE = `
:root{color-scheme:light;--fg:#111827;--muted:#4b5563;--line:#d1d5db;--bg:#fff;--panel:#f9fafb;--link:#1d4ed8}
*{box-sizing:border-box}
body{margin:0;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.4rem;margin:0}h1 small,h2 small{font-size:.8rem;font-weight:normal;color:var(--muted)}
h2{font-size:1.05rem;margin:1.2rem 0 .5rem}
a{color:var(--link)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--muted)}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem}
.heard{margin:0;color:var(--muted);font-size:.9rem}
.banner{margin:.75rem 0;padding:.5rem .75rem;border:1px solid #b45309;background:#fffbeb;color:#78350f;border-radius:4px}
.filters{display:flex;flex-wrap:wrap;align-items:center;gap:.4rem .6rem;margin:1rem 0;padding:.6rem;background:var(--panel);border:1px solid var(--line);border-radius:4px}
.filters label{font-weight:600}
select,button{font:inherit;padding:.2rem .4rem;min-height:2rem}
.bar{display:block;width:100%;height:22px;border-radius:3px;background:#e5e7eb}
.bar rect,.workers svg rect{height:100%}
.bar rect{stroke:#fff;stroke-width:1px}
.legend{display:flex;flex-wrap:wrap;gap:.3rem .9rem;list-style:none;padding:0;margin:.5rem 0 0}
.legend a{color:var(--fg);text-decoration:none;display:inline-flex;align-items:center;gap:.3rem;padding:.15rem .3rem;border-radius:3px}
.legend a:hover,.legend a:focus{text-decoration:underline}
.legend a[aria-current]{outline:2px solid var(--fg)}
.legend i{display:inline-block;width:.9rem;height:.9rem;border-radius:2px}
.legend small{color:var(--muted)}
table.workers{width:100%;border-collapse:collapse;font-size:.9rem}
.workers th,.workers td{text-align:left;vertical-align:top;padding:.45rem .5rem;border-bottom:1px solid var(--line)}
.workers th{background:var(--panel);font-size:.8rem;text-transform:uppercase;letter-spacing:.02em}
.scroll{overflow-x:auto}
.workers td{overflow-wrap:break-word}
.workers td:first-child,.workers td:nth-child(8){overflow-wrap:anywhere}
.workers td:first-child{min-width:12rem}
.workers td:nth-child(2),.workers td:nth-child(5){white-space:nowrap}
.workers td:nth-child(9){width:9rem}
.workers td:nth-child(8){color:#991b1b;max-width:20rem}
.none{color:var(--muted);text-align:center}
.raw{font-family:ui-monospace,monospace;font-size:.8rem}
.workers span[class^="s-"]{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.78rem;font-weight:600;white-space:nowrap}
.workers svg{display:block;width:100%;min-width:6rem;height:12px;background:#e5e7eb;border-radius:2px}
span.s-NEEDS_INIT{background:#e5e7eb;color:#1f2937}span.s-WORKING{background:#dbeafe;color:#1e3a8a}span.s-PR_OPEN{background:#ede9fe;color:#4c1d95}
span.s-MERGED{background:#dcfce7;color:#14532d}span.s-ABANDONED{background:#f3f4f6;color:#374151;outline:1px dashed #6b7280}span.s-UNKNOWN{background:#fee2e2;color:#7f1d1d}
/* state fills: the bar and legend use s-STATE, timeline segments one letter each (q w r m a u) */
rect.s-NEEDS_INIT,.s-NEEDS_INIT i,rect.q{fill:#9ca3af;background:#9ca3af}rect.s-WORKING,.s-WORKING i,rect.w{fill:#2563eb;background:#2563eb}
rect.s-PR_OPEN,.s-PR_OPEN i,rect.r{fill:#7c3aed;background:#7c3aed}rect.s-MERGED,.s-MERGED i,rect.m{fill:#16a34a;background:#16a34a}
rect.s-ABANDONED,.s-ABANDONED i,rect.a{fill:#4b5563;background:#4b5563}rect.s-UNKNOWN,.s-UNKNOWN i,rect.u{fill:#dc2626;background:#dc2626}
rect.empty{fill:#e5e7eb}
.message{max-width:40rem}
@media (max-width:760px){
body{padding:.6rem}
.workers thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.workers,.workers tbody,.workers tr,.workers td{display:block;width:100%}
.workers tr{border:1px solid var(--line);border-radius:4px;margin:0 0 .6rem;padding:.3rem .5rem}
.workers td{display:grid;grid-template-columns:6.5rem 1fr;gap:.5rem;border:0;padding:.2rem 0}
.workers td:first-child{display:block;min-width:0}
.workers td:nth-child(2),.workers td:nth-child(5){white-space:normal}
.workers td>span{justify-self:start}
.scroll{overflow-x:visible}
.workers td:nth-child(9){width:100%}
.workers td:empty{display:none}
.workers td:nth-child(2)::before{content:"Repository"}.workers td:nth-child(3)::before{content:"State"}
.workers td:nth-child(4)::before{content:"Agent"}.workers td:nth-child(5)::before{content:"PR"}
.workers td:nth-child(6)::before{content:"Runner"}.workers td:nth-child(7)::before{content:"In state"}
.workers td:nth-child(8)::before{content:"Error"}.workers td:nth-child(9)::before{content:"Timeline"}
.workers td::before{color:var(--muted);font-size:.8rem}
.workers td.none::before{content:none}
}
`.trimStart();

// Plain ES2017 for any current phone browser. It keeps "time in state" and "last heard" ticking,
// and replaces the live part of the page when the server's event stream says something changed.
const SCRIPT = `"use strict";
(function () {
  var live = document.getElementById("live");
  var heard = document.getElementById("heard");
  var heardAge = document.getElementById("heard-age");
  var banner = document.getElementById("banner");
  var form = document.getElementById("filters");
  if (!live || !heard || !heardAge || !banner) return;
  // the server's clock minus ours: durations are measured on the server's clock
  var offset = Number(live.getAttribute("data-now")) - Date.now();
  var heardAt = Date.parse(heard.getAttribute("datetime"));

  function duration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m" + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  }
  function tick() {
    var now = Date.now() + offset;
    if (!isNaN(heardAt)) heardAge.textContent = "(" + duration(now - heardAt) + " ago)";
    var cells = live.querySelectorAll("td[data-since]");
    for (var i = 0; i < cells.length; i++) {
      var since = Number(cells[i].getAttribute("data-since"));
      if (since > 0) cells[i].textContent = duration(now - since);
    }
  }
  function say(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }
  function showHeard(data) {
    offset = data.now - Date.now();
    heardAt = Date.parse(data.heardAt);
    heard.setAttribute("datetime", data.heardAt);
    heard.textContent = new Date(heardAt).toLocaleTimeString();
    tick();
  }
  if (!isNaN(heardAt)) heard.textContent = new Date(heardAt).toLocaleTimeString();
  tick();
  setInterval(tick, 1000);

  if (form) {
    // filters apply on change; empty choices stay out of the address
    var apply = function (event) {
      if (event) event.preventDefault();
      var params = new URLSearchParams();
      var fields = form.querySelectorAll("select");
      for (var i = 0; i < fields.length; i++) if (fields[i].value) params.set(fields[i].name, fields[i].value);
      var query = params.toString();
      location.assign("${PAGE_PATH}" + (query ? "?" + query : ""));
    };
    form.addEventListener("change", function () { apply(); });
    form.addEventListener("submit", apply);
  }

  if (typeof EventSource !== "function") {
    setTimeout(function () { location.reload(); }, 5000);
    return;
  }
  var params = new URLSearchParams(location.search);
  params.set("v", live.getAttribute("data-version") || "");
  var source = new EventSource("${EVENTS_PATH}?" + params.toString());
  source.addEventListener("update", function (event) {
    var data = JSON.parse(event.data);
    live.innerHTML = data.html;
    live.setAttribute("data-version", data.version);
    showHeard(data);
    say("");
  });
  source.addEventListener("heard", function (event) {
    showHeard(JSON.parse(event.data));
    say("");
  });
  source.addEventListener("trouble", function (event) {
    say(JSON.parse(event.data).message);
  });
  source.addEventListener("open", function () { say(""); });
  source.addEventListener("error", function () {
    say(source.readyState === EventSource.CLOSED
      ? "Updates stopped. Reload the page (the token may have changed)."
      : "Lost the connection to pw serve; reconnecting…");
  });
})();
`;

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

function asset(text: string, contentType: string): Asset {
  const body = Buffer.from(text, "utf8");
  return { body, contentType, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` };
}

export const STYLESHEET = asset(STYLE, "text/css; charset=utf-8");
export const CLIENT_SCRIPT = asset(SCRIPT, "text/javascript; charset=utf-8");
