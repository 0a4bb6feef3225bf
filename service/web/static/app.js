// ferry activity page. Every string from the API goes into the page through
// textContent or setAttribute, never through HTML parsing: file names are
// attacker-controlled.
"use strict";

const POLL_MS = 1000;
const HISTORY = 300; // graph samples, one per second: the agent keeps as many (GET /api/v1/rates)
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];

const token = (() => {
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("ferry-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname); // keep it out of bookmarks
  }
  return sessionStorage.getItem("ferry-token") || "";
})();

const cards = new Map(); // job name -> {root, parts}
const rates = new Map(); // job name -> [bits/s]
const conflictsSeen = new Map(); // job name -> {count, at}

// shown is how a name from the API is written into the page: control
// characters, Unicode format characters (bidi controls such as U+202E,
// zero-width characters) and line separators become escapes, so a file name
// cannot read backwards or hide text. It mirrors render.Clean in
// service/render/human.go; the page's tests check the two agree.
function shown(s) {
  return String(s).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    const cp = c.codePointAt(0);
    if (cp < 0x20 || cp === 0x7f) return "\\x" + cp.toString(16).padStart(2, "0");
    if (cp > 0xffff) return "\\U" + cp.toString(16).padStart(8, "0");
    return "\\u" + cp.toString(16).padStart(4, "0");
  });
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(method, path, body) {
  const headers = { "X-Ferry-Request": "1" };
  if (token) headers["Authorization"] = "Bearer " + token;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.status + " " + resp.statusText);
  return data;
}

function showError(msg) {
  const e = document.getElementById("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

function jobPath(name, verb) {
  return "/api/v1/jobs/" + encodeURIComponent(name) + (verb ? "/" + verb : "");
}

async function act(name, verb, body) {
  try {
    await api("POST", jobPath(name, verb), body);
    showError("");
    await poll();
  } catch (err) {
    showError(shown(name) + ": " + shown(err.message));
  }
}

// Formatting, in the same words the CLI uses.
function rate(bps) {
  if (!bps) return "0 bit/s";
  const units = [["Gbit/s", 1e9], ["Mbit/s", 1e6], ["kbit/s", 1e3]];
  for (const [u, m] of units) if (bps >= m) return (bps / m).toFixed(bps / m < 10 ? 1 : 0) + " " + u;
  return Math.round(bps) + " bit/s";
}
function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + units[i];
}
function dur(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
}

// axis picks the graph's top for the rates drawn: a round number (1, 2, 4
// or 8 times a power of ten), at least 1 Mbit/s, so that an idle graph
// reads 0 to 1 Mbit/s instead of repeating "0 bit/s"; and the labels of
// its five lines, top first.
function axis(values) {
  let top = 0;
  for (const v of values) if (Number.isFinite(v) && v > top) top = v;
  let max = 1e6;
  if (top > max) {
    const p = Math.pow(10, Math.floor(Math.log10(top)));
    max = [1, 2, 4, 8, 10].map(m => m * p).find(m => m >= top);
  }
  const labels = [];
  for (let i = 0; i <= 4; i++) labels.push(rate(max * (4 - i) / 4));
  return { max, labels };
}

// stateText words a job's state as the CLI does.
function stateText(job) {
  return job.state === "queued" ? "queued (" + (job.ahead || 0) + " ahead)" : job.state;
}

function card(job) {
  let c = cards.get(job.name);
  if (c) return c;
  const root = el("section", "job");
  root.setAttribute("data-job", job.name);
  const head = el("div", "job-head");
  const name = el("h2", "name", shown(job.name));
  const state = el("span", "state");
  const next = el("span", "next");
  const actions = el("div", "actions");
  const stop = el("button", "stop", "Stop");
  const resume = el("button", "resume", "Resume");
  const sync = el("button", "sync", "Sync now");
  const versions = el("button", "versions-toggle", "Versions");
  stop.addEventListener("click", () => act(job.name, "stop"));
  resume.addEventListener("click", () => act(job.name, "resume"));
  sync.addEventListener("click", () => act(job.name, "sync-now"));
  actions.append(sync, stop, resume, versions);
  head.append(name, state, next, actions);
  const paths = el("div", "paths");
  const halt = el("div", "halt");
  const haltWhy = el("span", "halt-reason");
  const haltFix = el("code", "halt-fix");
  halt.append(haltWhy, " ", haltFix);
  const bar = el("div", "bar");
  const fill = el("div");
  bar.append(fill);
  const progress = el("div", "progress muted");
  const transfers = el("ul", "transfers");
  const last = el("div", "last");
  const disk = el("div", "disk");
  const conflicts = el("ul", "conflicts");
  const kept = el("div", "versions");
  kept.hidden = true;
  versions.addEventListener("click", () => {
    kept.hidden = !kept.hidden;
    if (!kept.hidden) loadVersions(job.name, "");
  });
  root.append(head, paths, halt, bar, progress, transfers, last, disk, conflicts, kept);
  document.getElementById("jobs").append(root);
  c = { root, parts: { state, next, stop, resume, sync, paths, halt, haltWhy, haltFix, bar, fill, progress, transfers, last, disk, conflicts, kept } };
  cards.set(job.name, c);
  return c;
}

function renderJob(job, now) {
  const p = card(job).parts;
  const running = job.state === "scanning" || job.state === "transferring" || job.state === "queued";
  p.state.textContent = stateText(job);
  p.state.className = "state state-" + job.state;
  p.paths.textContent = shown(job.local) + "  ⇄  " + shown(job.remote) + "  (" + job.direction + ", " + job.mode + ")";
  const next = job.next_pass ? Date.parse(job.next_pass) : NaN;
  p.next.textContent = running ? "syncing" : job.state === "stopped" || job.state === "halted" || isNaN(next) || next <= 0
    ? "" : next > now ? "next sync in " + dur(next - now) : "sync due";
  p.stop.disabled = job.state === "stopped";
  // Resume only undoes Stop; a halt is fixed as job.fix says.
  p.resume.disabled = job.state !== "stopped";
  p.sync.disabled = job.state === "stopped";

  p.halt.hidden = !job.halted;
  p.haltWhy.textContent = job.halted ? "Halted: " + shown(job.halted) : "";
  // The fix holds one choice per line: escape each line, keep the breaks.
  p.haltFix.textContent = (job.fix || "").split("\n").map(shown).join("\n");
  p.haltFix.hidden = !job.fix;

  const pr = job.progress || {};
  p.bar.hidden = p.progress.hidden = !running;
  const frac = pr.bytes_total > 0 ? pr.bytes_done / pr.bytes_total : pr.files_total > 0 ? pr.files_done / pr.files_total : 0;
  p.fill.style.width = (Math.min(1, frac) * 100).toFixed(1) + "%";
  p.progress.textContent = running
    ? pr.files_done + " / " + pr.files_total + " files, " + size(pr.bytes_done) + " / " + size(pr.bytes_total) +
      ", " + rate(pr.rate_bps) + (pr.eta_s > 0 ? ", " + dur(pr.eta_s * 1000) + " left" : "") +
      (pr.bytes_reused > 0 ? ", " + size(pr.bytes_reused) + " already there" : "") +
      (job.state === "queued" ? ", waiting for a transfer slot" : "")
    : "";

  p.transfers.replaceChildren(...(job.transfers || []).map(t => {
    const li = el("li");
    const pct = t.size > 0 ? Math.floor(Math.min(1, t.done / t.size) * 100) + "%, " : "";
    li.append(el("span", "path", shown(t.path)), " " + size(t.done) + " / " + size(t.size) + ", " + pct + rate(t.rate_bps));
    return li;
  }));

  const l = job.last;
  p.last.textContent = !l ? "no pass yet" : l.halted ? "last pass halted"
    : l.err ? "last pass failed: " + shown(l.err)
    : (l.interrupted ? "last pass (interrupted) " : "last pass ") + new Date(l.end).toLocaleTimeString() + ": " + l.created + " created, " + l.updated + " updated, " +
      (l.renamed ? l.renamed + " renamed, " : "") + (l.copied ? l.copied + " copied, " : "") +
      l.deleted + " deleted, " + size(l.bytes);
  if (l && l.recovered) {
    p.last.textContent += " — the snapshot was damaged (" + l.recovered.reason + "), so this pass deleted nothing; " +
      "the damaged file was moved to " + l.recovered.moved_to;
  }
  p.disk.replaceChildren(...((l && l.disk_space_low) || []).map(d => {
    const left = Math.max(0, d.free_bytes - d.needed_bytes);
    return el("p", "disk-low", "Low disk space on the " + d.side + " side: the last pass left " + size(left) +
      " free of " + size(d.total_bytes) + " (" + (d.total_bytes ? 100 * left / d.total_bytes : 0).toFixed(1) + "%), under the " +
      (100 * d.warning_share) + "% of disk_space_warning; free some space there.");
  }));

  loadConflicts(job, now);
  const r = rates.get(job.name) || [];
  r.push(running ? pr.rate_bps || 0 : 0);
  if (r.length > HISTORY) r.shift();
  rates.set(job.name, r);
}

async function loadConflicts(job, now) {
  const seen = conflictsSeen.get(job.name);
  const p = cards.get(job.name).parts;
  if (!job.conflicts) {
    p.conflicts.replaceChildren();
    conflictsSeen.delete(job.name);
    return;
  }
  if (seen && seen.count === job.conflicts && now - seen.at < 5000) return;
  conflictsSeen.set(job.name, { count: job.conflicts, at: now });
  let recs;
  try {
    recs = await api("GET", jobPath(job.name, "conflicts"));
  } catch (err) {
    showError(shown(job.name) + ": " + shown(err.message));
    return;
  }
  p.conflicts.replaceChildren(...recs.map(rec => {
    const li = el("li", "conflict");
    const btn = el("button", "resolve", "Resolve");
    btn.addEventListener("click", () => {
      conflictsSeen.delete(job.name);
      act(job.name, "resolve", { paths: [rec.path] });
    });
    const names = (rec.clash || []).map(n => shown(n.path)).join(", ");
    li.append(el("span", "path", shown(rec.path)),
      el("span", "reason", rec.reason + (names ? ": " + names : "") + (rec.copy ? ", your copy: " + shown(rec.copy) : "")), btn);
    return li;
  }));
}

// loadVersions lists the job's kept versions, both sides, each with a
// Restore button; note is shown above the list (what the last restore did).
async function loadVersions(name, note) {
  const c = cards.get(name);
  if (!c) return;
  const box = c.parts.kept;
  let list;
  try {
    list = await api("GET", jobPath(name, "versions"));
  } catch (err) {
    box.replaceChildren(el("p", "error", "versions: " + shown(err.message)));
    return;
  }
  const items = [];
  if (note) items.push(el("p", "versions-note", note));
  for (const e of list.errors || []) items.push(el("p", "error", "the " + e.side + " side: " + shown(e.error)));
  if (!list.versions.length) items.push(el("p", "muted", "no kept versions"));
  const ul = el("ul", "version-list");
  ul.append(...list.versions.map(v => {
    const li = el("li", "version");
    li.setAttribute("data-side", v.side);
    const btn = el("button", "restore", "Restore");
    btn.addEventListener("click", async () => {
      try {
        const done = await api("POST", jobPath(name, "restore"), { path: v.path, side: v.side, version: v.number });
        const what = done.restored.map(r => shown(r.path)).join(", ");
        showError("");
        loadVersions(name, "restored " + what + " on the " + v.side + " side; the next pass syncs it");
      } catch (err) {
        showError(shown(name) + ": " + shown(err.message));
      }
    });
    li.append(el("span", "path", shown(v.path)),
      el("span", "meta", v.side + " #" + v.number + ", kept " + new Date(v.time).toLocaleString() + ", " + size(v.size) + ", " + shown(v.why)),
      btn);
    return li;
  }));
  items.push(ul);
  box.replaceChildren(...items);
}

function drawGraph() {
  const cv = document.getElementById("graph");
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth, h = cv.clientHeight;
  if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const { max, labels } = axis([...rates.values()].flat());
  g.strokeStyle = "#dde1e6";
  g.fillStyle = "#6a7380";
  g.font = "11px system-ui, sans-serif";
  labels.forEach((label, i) => {
    const y = 8 + (h - 16) * i / 4;
    g.beginPath(); g.moveTo(60, y); g.lineTo(w, y); g.stroke();
    g.fillText(label, 2, y + 4);
  });
  const legend = [];
  let i = 0;
  for (const [name, r] of rates) {
    const color = COLORS[i++ % COLORS.length];
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    r.forEach((v, k) => {
      const x = 60 + (w - 60) * (k + HISTORY - r.length) / (HISTORY - 1);
      const y = 8 + (h - 16) * (1 - Math.min(1, (Number.isFinite(v) ? v : 0) / max));
      k ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
    const li = el("li", "", shown(name) + " " + rate(r[r.length - 1] || 0));
    li.style.setProperty("--swatch", color);
    legend.push(li);
  }
  document.getElementById("legend").replaceChildren(...legend);
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const jobs = await api("GET", "/api/v1/jobs");
    const now = Date.now();
    const names = new Set(jobs.map(j => j.name));
    for (const [name, c] of cards) if (!names.has(name)) { c.root.remove(); cards.delete(name); rates.delete(name); }
    jobs.forEach(j => renderJob(j, now));
    document.getElementById("empty").hidden = jobs.length > 0;
    drawGraph();
    document.getElementById("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    if (document.getElementById("error").textContent.startsWith("cannot reach")) showError("");
  } catch (err) {
    showError("cannot reach ferry: " + err.message);
  } finally {
    polling = false;
  }
}

// loadHistory starts the graph with the rates the agent kept, so that a
// reload does not lose them.
async function loadHistory() {
  try {
    const hs = await api("GET", "/api/v1/rates");
    for (const h of hs) {
      if (!rates.has(h.job)) rates.set(h.job, (h.rates_bps || []).slice(-HISTORY));
    }
  } catch (err) {
    // An agent without the history: the graph starts empty.
  }
}

loadHistory().finally(() => {
  poll();
  setInterval(poll, POLL_MS);
});
