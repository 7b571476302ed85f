// The ferroftpd dashboard: polls the admin API once a second. The token is
// asked once and kept in sessionStorage, for this tab only; it is sent in
// the Authorization header, never in a cookie or a URL.
"use strict";

const TOKEN_KEY = "ferroftpd-admin-token";
const POLL_MS = 1000;
const GRAPH_SECONDS = 300;
const $ = (id) => document.getElementById(id);

let timer = null;
let samples = []; // {t (ms), sent, received}: the server's byte totals

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + token() }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("/api/v1/" + path, init);
  if (response.status === 401) {
    signOut("The token was refused.");
    throw new Error("unauthorized");
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error((data && data.error) || response.statusText);
  return data;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text == null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function button(label, className, data, description) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = className;
  b.setAttribute("aria-label", description);
  Object.assign(b.dataset, data);
  return b;
}

// The tables are rebuilt at every poll: a keyboard user's focus moves to
// the same button of the new row, or it would fall back to the page.
function keepingFocus(body, rebuild) {
  const el = document.activeElement;
  const label = el && el.tagName === "BUTTON" && body.contains(el) ? el.getAttribute("aria-label") : null;
  rebuild();
  if (label === null) return;
  const again = [...body.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === label);
  if (again) again.focus();
}

function since(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function renderSessions(list) {
  const body = $("sessions").tBodies[0];
  keepingFocus(body, () => fillSessions(body, list));
}

function fillSessions(body, list) {
  body.replaceChildren();
  $("session-count").textContent = "(" + list.length + ")";
  for (const s of list) {
    const row = body.insertRow();
    row.dataset.id = s.id;
    cell(row, s.id, "num");
    cell(row, s.user || "(not logged in)", s.user ? "" : "muted");
    cell(row, s.address);
    cell(row, since(s.since));
    cell(row, s.directory || "");
    const t = s.transfer;
    cell(row, t ? t.command + " " + (t.path || "") : "idle", t ? "transfer" : "muted");
    const progress = cell(row, "", "num progress");
    if (t) {
      if (t.size != null) {
        const bar = document.createElement("progress");
        bar.max = t.size || 1;
        bar.value = Math.min(t.bytes, t.size);
        bar.setAttribute("aria-label", "progress of session " + s.id);
        progress.append(bar, " ");
      }
      const pct = t.progress != null ? " (" + (t.progress * 100).toFixed(0) + "%)" : "";
      const span = document.createElement("span");
      span.className = "bytes";
      span.dataset.bytes = t.bytes;
      span.textContent = bytes(t.bytes) + (t.size != null ? " of " + bytes(t.size) : "") + pct;
      progress.append(span);
    }
    cell(row, t ? bytes(t.rate) + "/s" : "", "num");
    const actions = row.insertCell();
    actions.append(
      button("Kick", "kick danger", { id: s.id }, "Kick session " + s.id),
      " ",
      button("Ban", "ban danger", { address: s.address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "") },
        "Ban the address of session " + s.id),
    );
  }
}

function renderBans(list) {
  const body = $("bans").tBodies[0];
  keepingFocus(body, () => fillBans(body, list));
}

function fillBans(body, list) {
  body.replaceChildren();
  for (const b of list) {
    const row = body.insertRow();
    cell(row, b.address);
    cell(row, b.until ? since(b.until) : "until lifted");
    cell(row, b.reason);
    row.insertCell().append(button("Unban", "unban", { address: b.address }, "Lift the ban of " + b.address));
  }
}

function renderInfo(info) {
  const up = info.uptime_seconds;
  const h = Math.floor(up / 3600), m = Math.floor((up % 3600) / 60);
  $("server-info").textContent = "version " + info.version + ", up " + h + " h " + m + " min, " +
    info.connections + " connections";
  const now = Date.now();
  samples.push({ t: now, sent: info.bytes_sent, received: info.bytes_received });
  samples = samples.filter((s) => now - s.t <= GRAPH_SECONDS * 1000);
  drawGraph(now);
}

function rates() {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    out.push({ t: b.t, sent: Math.max(0, b.sent - a.sent) / dt, received: Math.max(0, b.received - a.received) / dt });
  }
  return out;
}

function svg(name, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function drawGraph(now) {
  const graph = $("graph");
  const W = 600, H = 160, left = 60, bottom = 20;
  const points = rates();
  const max = Math.max(1024, ...points.map((p) => Math.max(p.sent, p.received)));
  const x = (t) => left + (W - left) * (1 - (now - t) / (GRAPH_SECONDS * 1000));
  const y = (v) => (H - bottom) - (H - bottom - 10) * (v / max);
  graph.replaceChildren(
    svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }),
    svg("line", { x1: left, y1: 10, x2: left, y2: H - bottom, class: "axis" }),
  );
  const label = (text, attrs) => { const t = svg("text", attrs); t.textContent = text; graph.append(t); };
  label(bytes(max) + "/s", { x: 2, y: 16 });
  label("0", { x: 2, y: H - bottom });
  label("-5 min", { x: left, y: H - 4 });
  label("now", { x: W - 24, y: H - 4 });
  for (const key of ["sent", "received"]) {
    const line = points.map((p) => x(p.t).toFixed(1) + "," + y(p[key]).toFixed(1)).join(" ");
    graph.append(svg("polyline", { points: line, class: key }));
  }
  const last = points[points.length - 1] || { sent: 0, received: 0 };
  $("rate-sent").textContent = bytes(last.sent) + "/s";
  $("rate-received").textContent = bytes(last.received) + "/s";
}

async function poll() {
  try {
    const [info, sessions, bans] = await Promise.all([api("GET", "info"), api("GET", "sessions"), api("GET", "bans")]);
    renderInfo(info);
    renderSessions(sessions);
    renderBans(bans);
  } catch (e) {
    if (e.message !== "unauthorized") $("status").textContent = "Cannot reach the server: " + e.message;
  }
}

function say(text) { $("status").textContent = text; }

async function act(fn, done) {
  try { await fn(); say(done); } catch (e) { if (e.message !== "unauthorized") say("Failed: " + e.message); }
  poll();
}

function start() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  poll();
  clearInterval(timer);
  timer = setInterval(poll, POLL_MS);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("login-error").textContent = "";
    start();
  });
  $("sign-out").addEventListener("click", () => signOut("Token forgotten."));
  $("ban-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const address = $("ban-address").value.trim();
    const minutes = parseInt($("ban-minutes").value, 10);
    const body = { address, kick: $("ban-kick").checked };
    if (minutes > 0) body.duration = minutes * 60;
    act(() => api("POST", "bans", body), "Banned " + address + ".");
  });
  document.body.addEventListener("click", (event) => {
    const b = event.target.closest("button");
    if (!b) return;
    if (b.classList.contains("kick")) {
      act(() => api("DELETE", "sessions/" + encodeURIComponent(b.dataset.id)), "Session " + b.dataset.id + " kicked.");
    } else if (b.classList.contains("ban")) {
      act(() => api("POST", "bans", { address: b.dataset.address, kick: true }), "Banned " + b.dataset.address + ".");
    } else if (b.classList.contains("unban")) {
      act(() => api("DELETE", "bans/" + encodeURIComponent(b.dataset.address)), "Ban of " + b.dataset.address + " lifted.");
    }
  });
  if (token()) start(); else signOut();
});
