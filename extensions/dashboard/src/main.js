// The workbench dashboard page. Every value from the server is shown with textContent or
// as an SVG text node: never parsed as HTML (model names, tags and parameters are user data).
import { select } from "d3-selection";
import { scaleLinear, scaleUtc } from "d3-scale";
import { axisBottom, axisLeft } from "d3-axis";
import { line, symbol, symbolCircle, symbolSquare } from "d3-shape";
import { utcFormat } from "d3-time-format";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22"];
const PAGE = 50;
const OFFLINE_AFTER_MS = 3000;

let state = null;
let lastMessageAt = null;
let extraRuns = 0;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function number(value) {
  return typeof value === "number" ? value.toFixed(3) : "—";
}

function time(iso) {
  if (!iso) return "—";
  return String(iso).replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, "");
}

function duration(seconds) {
  if (typeof seconds !== "number") return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

function pairs(object) {
  return Object.entries(object || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ");
}

function cell(row, field, text, className, value) {
  const td = el("td", text, className);
  td.dataset.field = field;
  if (value !== undefined && value !== null) td.dataset.value = String(value);
  row.append(td);
  return td;
}

function setStatus(kind, text) {
  const status = document.getElementById("status");
  status.dataset.state = kind;
  status.textContent = text;
  document.getElementById("main").classList.toggle("is-stale", kind === "stale" || kind === "offline");
}

function showFreshness() {
  if (!state) return;
  if (state.status === "stale") {
    setStatus("stale", `Data stale since ${time(state.stale_since)} UTC: the store cannot be reached.` +
      (state.data ? ` Showing what was read at ${time(state.updated_at)} UTC.` : ""));
  } else if (state.status === "starting") {
    setStatus("connecting", "Waiting for the first read of the stores…");
  } else {
    setStatus("live", `Live · changed ${time(state.updated_at)} UTC`);
  }
}

// -- models --------------------------------------------------------------------------------

function joinArms(items, show) {
  return items.map((item) => (items.length > 1 ? `${item.arm}: ` : "") + show(item)).join("\n");
}

function liveCells(row, version) {
  const arms = version.live || [];
  if (arms.length === 0) {
    for (const field of ["live_precision", "live_recall"]) cell(row, field, "no live data", "muted");
    cell(row, "labelled", "—", "muted");
  } else {
    cell(row, "live_precision", joinArms(arms, (a) => number(a.precision)), "num", arms[0].precision);
    cell(row, "live_recall", joinArms(arms, (a) => number(a.recall)), "num", arms[0].recall);
    const labelled = cell(row, "labelled", joinArms(arms, (a) => `${a.n} of last ${a.window}`), "num", arms[0].n);
    labelled.title = joinArms(arms, (a) => `labels from ${time(a.first_at)} to ${time(a.last_at)} UTC`);
  }
  const traffic = version.traffic || [];
  if (traffic.length === 0) {
    cell(row, "rate", "no traffic", "muted");
    cell(row, "p99", "—", "muted");
  } else {
    cell(row, "rate", joinArms(traffic, (t) => `${t.rate_per_s.toFixed(2)}/s`), "num", traffic[0].rate_per_s);
    cell(row, "p99", joinArms(traffic, (t) => `${t.p99_ms.toFixed(1)} ms`), "num", traffic[0].p99_ms);
  }
}

function driftCell(row, version, threshold) {
  const entries = Object.entries(version.drift || {}).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) {
    cell(row, "drift", "—", "muted");
    return;
  }
  const td = cell(row, "drift", undefined, "text");
  td.title = entries.map(([feature, psi]) => `${feature} ${number(psi)}`).join("\n");
  const list = el("ul", undefined, "drift");
  for (const [feature, psi] of entries.slice(0, 3)) {
    const high = typeof psi === "number" && psi > threshold;
    const item = el("li", `${high ? "⚠ " : ""}${feature} ${number(psi)}`, high ? "warn" : "");
    item.dataset.feature = feature;
    item.dataset.value = String(psi);
    if (high) item.title = `PSI above ${threshold}`;
    list.append(item);
  }
  if (entries.length > 3) list.append(el("li", `+${entries.length - 3} more`, "muted"));
  td.append(list);
}

function gateCell(row, gate) {
  if (!gate) {
    cell(row, "gate", "—", "muted");
    return;
  }
  const text = gate.error ? "error" : gate.passed ? "passed" : "failed";
  const td = cell(row, "gate", `${text} · ${time(gate.at)}`, gate.passed ? "gate-passed" : "gate-failed");
  td.dataset.value = text;
  td.title = gate.error || (gate.failed.length ? `failed: ${gate.failed.join("; ")}` : `${gate.trigger}`);
}

// precision, recall and F1 are one definition everywhere (the snapshot's "average": macro); headers say which
function averaged(name, data) {
  return `${name} (${data.average})`;
}

function modelTable(model, data) {
  const table = el("table");
  const head = el("tr");
  for (const title of ["Version", "Stage", "Created (UTC)", "Tags", averaged("Precision", data),
    averaged("Recall", data), averaged("F1", data), "Last gate", averaged("Live precision", data),
    averaged("Live recall", data), "Labelled", "Requests", "p99 latency", "Drift (PSI)"]) {
    const th = el("th", title);
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  for (const version of model.versions) {
    const row = el("tr");
    row.dataset.model = model.name;
    row.dataset.version = String(version.version);
    cell(row, "version", `v${version.version}`);
    cell(row, "stage", version.stage, "stage");
    cell(row, "created", time(version.created_at));
    cell(row, "tags", pairs(version.tags), "text");
    for (const key of ["precision", "recall", "f1"]) {
      cell(row, key, number(version.offline[key]), "num", version.offline[key]);
    }
    gateCell(row, version.gate);
    liveCells(row, version);
    driftCell(row, version, data.drift_threshold);
    body.append(row);
  }
  table.append(thead, body);
  const wrap = el("div", undefined, "scroll");
  wrap.append(table);
  return wrap;
}

function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

function legend(items) {
  const list = el("ul", undefined, "legend");
  for (const [label, color] of items) {
    const item = el("li");
    const swatch = el("span", undefined, "swatch");
    swatch.style.background = color;
    item.append(swatch, document.createTextNode(label));
    list.append(item);
  }
  return list;
}

function svgChart(figure, title, description, width, height) {
  const svg = select(figure).append("svg")
    .attr("viewBox", `0 0 ${width} ${height}`).attr("width", width).attr("height", height).attr("role", "img");
  svg.append("title").text(title);
  svg.append("desc").text(description);
  return svg;
}

function timeFormat(spanMs) {
  if (spanMs > 2 * 86400000) return "%b %d";
  return spanMs > 600000 ? "%H:%M" : "%H:%M:%S";
}

function timeChart(model, data) {
  const figure = el("figure");
  const points = [];
  const versions = model.versions.slice().sort((a, b) => a.version - b.version);
  versions.forEach((version, index) => {
    const color = colorOf(index);
    for (const key of ["precision", "recall"]) {
      if (typeof version.offline[key] === "number") {
        points.push({ version, key, kind: "offline", at: new Date(version.created_at), value: version.offline[key],
          color });
      }
    }
    for (const p of version.live_history || []) {
      for (const key of ["precision", "recall"]) {
        if (typeof p[key] === "number" && p.last_at) {
          points.push({ version, key, kind: "live", at: new Date(p.last_at), value: p[key], color, arm: p.arm });
        }
      }
    }
  });
  if (points.length === 0) {
    figure.append(el("p", "No precision or recall to chart yet.", "empty"));
    return figure;
  }
  const width = 640;
  const height = 220;
  const m = { top: 10, right: 12, bottom: 26, left: 54 };
  const times = points.map((p) => p.at.getTime());
  let [lo, hi] = [Math.min(...times), Math.max(...times)];
  if (hi - lo < 60000) {
    lo -= 30000;
    hi += 30000;
  }
  const x = scaleUtc().domain([new Date(lo), new Date(hi)]).range([m.left, width - m.right]);
  const floor = Math.max(0, Math.floor((Math.min(...points.map((p) => p.value)) - 0.05) * 10) / 10);
  const y = scaleLinear().domain([floor, 1]).range([height - m.bottom, m.top]);
  const svg = svgChart(figure, `Precision and recall (${data.average}) of ${model.name} over time`,
    "Hollow marks: offline scores at registration; filled marks joined by lines: live windows. " +
    "Circles: precision; squares: recall. One colour per version.", width, height);
  svg.append("g").attr("class", "axis").attr("transform", `translate(0,${height - m.bottom})`)
    .call(axisBottom(x).ticks(6).tickFormat(utcFormat(timeFormat(hi - lo))));
  svg.append("g").attr("class", "axis").attr("transform", `translate(${m.left},0)`).call(axisLeft(y).ticks(5));
  svg.append("text").attr("class", "label").attr("x", width - m.right).attr("y", height - 2)
    .attr("text-anchor", "end").text("UTC");
  svg.append("text").attr("class", "label").attr("transform", `translate(12,${(height - m.bottom + m.top) / 2}) rotate(-90)`)
    .attr("text-anchor", "middle").text(`${data.average} average`);
  const live = points.filter((p) => p.kind === "live");
  const groups = new Map();
  for (const p of live) {
    const id = `${p.version.version}|${p.key}|${p.arm}`;
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(p);
  }
  const path = line().x((p) => x(p.at)).y((p) => y(p.value));
  for (const series of groups.values()) {
    svg.append("path").attr("d", path(series)).attr("fill", "none").attr("stroke", series[0].color)
      .attr("stroke-width", 1.5).attr("stroke-dasharray", series[0].key === "recall" ? "4 3" : null);
  }
  const shape = (key) => symbol(key === "precision" ? symbolCircle : symbolSquare, 48)();
  svg.append("g").selectAll("path").data(points).join("path")
    .attr("transform", (p) => `translate(${x(p.at)},${y(p.value)})`)
    .attr("d", (p) => shape(p.key))
    .attr("fill", (p) => (p.kind === "live" ? p.color : "none"))
    .attr("stroke", (p) => p.color).attr("stroke-width", 1.5)
    .attr("data-kind", (p) => p.kind)
    .append("title").text((p) => `v${p.version.version} ${p.kind} ${p.key} ${number(p.value)} at ${time(p.at.toISOString())}`);
  figure.append(legend(versions.map((v, i) => [`v${v.version} (${v.stage})`, colorOf(i)])));
  figure.append(el("figcaption", "Hollow: offline at registration · filled, joined: live windows · " +
    "circle: precision · square: recall (dashed line)"));
  return figure;
}

// -- the loop's timeline -------------------------------------------------------------------

const LOOP_COLORS = {
  trigger: "#ff7f0e", retrain: "#9467bd", retrained: "#9467bd", retrain_failed: "#d62728", gate: "#17becf",
  challenger: "#1f77b4", decision: "#8c564b", promoted: "#2ca02c", retired: "#7f7f7f", ended: "#7f7f7f",
  paused: "#bcbd22", resumed: "#bcbd22", requested: "#e377c2", rolled_back: "#d62728",
};

function interval(values) {
  return values ? `${number(values.estimate)} [${number(values.low)}, ${number(values.high)}]` : "—";
}

function loopFacts(loop) {
  const facts = el("dl", undefined, "loop-facts");
  const add = (term, text, field) => {
    const dd = el("dd", text);
    dd.dataset.field = field;
    facts.append(el("dt", term), dd);
  };
  let phase = loop.phase;
  if (loop.challenger && (loop.phase === "challenging" || loop.phase === "deciding")) {
    phase += ` (v${loop.challenger.version} against production v${loop.challenger.production}, ` +
      `${Math.round(loop.challenger.weight * 100)}% of traffic)`;
  }
  if (loop.paused) phase += ` · paused by ${loop.paused.by}${loop.paused.reason ? `: ${loop.paused.reason}` : ""}`;
  add("State", phase, "loop_phase");
  add("Last trigger", loop.last_trigger && loop.last_trigger.summary
    ? `${time(loop.last_trigger.at)} · ${loop.last_trigger.summary}` : "—", "loop_trigger");
  const e = loop.evidence;
  add("A/B", e ? `${e.metric}: challenger ${interval(e.challenger)} on ${e.n_challenger} labels, production ` +
    `${interval(e.production)} on ${e.n_production}; difference ${interval(e.difference)} → ${e.verdict}` : "—",
  "loop_ab");
  return facts;
}

function loopStrip(model, events) {
  const figure = el("figure");
  const width = 640;
  const height = 70;
  const m = { left: 12, right: 12 };
  const times = events.map((e) => new Date(e.at).getTime());
  let [lo, hi] = [Math.min(...times), Math.max(...times)];
  if (hi - lo < 60000) {
    lo -= 30000;
    hi += 30000;
  }
  const x = scaleUtc().domain([new Date(lo), new Date(hi)]).range([m.left, width - m.right]);
  const svg = svgChart(figure, `Loop timeline of ${model.name}`,
    "One mark per event of the model's loop, coloured by kind; hover a mark for what happened.", width, height);
  svg.append("g").attr("class", "axis").attr("transform", `translate(0,${height - 26})`)
    .call(axisBottom(x).ticks(6).tickFormat(utcFormat(timeFormat(hi - lo))));
  svg.append("g").selectAll("circle").data(events).join("circle")
    .attr("cx", (e) => x(new Date(e.at))).attr("cy", 20).attr("r", 5)
    .attr("fill", (e) => LOOP_COLORS[e.kind] || "#7f7f7f").attr("data-kind", (e) => e.kind)
    .append("title").text((e) => `#${e.seq} ${e.kind} at ${time(e.at)}: ${e.summary}`);
  const kinds = [...new Set(events.map((e) => e.kind))];
  figure.append(legend(kinds.map((kind) => [kind, LOOP_COLORS[kind] || "#7f7f7f"])));
  return figure;
}

function loopSection(model, loop) {
  const box = el("div", undefined, "loop");
  box.dataset.model = model.name;
  box.append(el("h4", "Loop"), loopFacts(loop));
  const events = loop.events || [];
  if (events.length === 0) {
    box.append(el("p", "No loop event yet.", "empty"));
    return box;
  }
  box.append(loopStrip(model, events));
  const list = el("ol", undefined, "timeline");
  for (const event of events.slice().reverse()) {
    const item = el("li");
    item.dataset.kind = event.kind;
    item.dataset.seq = String(event.seq);
    const kind = el("span", event.kind, "kind");
    kind.style.borderColor = LOOP_COLORS[event.kind] || "#7f7f7f";
    item.append(el("time", time(event.at)), kind, el("span", event.summary, "what"));
    list.append(item);
  }
  box.append(list);
  return box;
}

function renderModels(data) {
  const root = document.getElementById("models");
  root.replaceChildren();
  if (data.models.length === 0) {
    root.append(el("p", "No model registered yet.", "empty"));
    return;
  }
  for (const model of data.models) {
    const section = el("section");
    section.dataset.model = model.name;
    section.append(el("h3", model.name), modelTable(model, data), timeChart(model, data));
    const loop = (data.loop || {})[model.name];
    if (loop) section.append(loopSection(model, loop));
    root.append(section);
  }
}

function renderScatter(data) {
  const root = document.getElementById("scatter");
  root.replaceChildren();
  const points = [];
  data.models.forEach((model, index) => {
    for (const version of model.versions) {
      const o = version.offline;
      if (typeof o.precision === "number" && typeof o.recall === "number") {
        points.push({ model, version, kind: "offline", precision: o.precision, recall: o.recall, color: colorOf(index) });
      }
      for (const a of version.live || []) {
        if (typeof a.precision === "number" && typeof a.recall === "number") {
          points.push({ model, version, kind: "live", precision: a.precision, recall: a.recall, color: colorOf(index) });
        }
      }
    }
  });
  if (points.length === 0) {
    root.append(el("p", "No version has precision and recall yet.", "empty"));
    return;
  }
  const figure = el("figure");
  const size = 360;
  const m = { top: 10, right: 12, bottom: 36, left: 56 };
  const lowest = Math.min(...points.flatMap((p) => [p.precision, p.recall]));
  const floor = Math.max(0, Math.floor((lowest - 0.05) * 10) / 10);
  const x = scaleLinear().domain([floor, 1]).range([m.left, size - m.right]);
  const y = scaleLinear().domain([floor, 1]).range([size - m.bottom, m.top]);
  const svg = svgChart(figure, "Precision against recall for every version",
    "One mark per version: hollow for offline scores, filled for the live window; one colour per model.", size, size);
  svg.append("g").attr("class", "axis").attr("transform", `translate(0,${size - m.bottom})`)
    .call(axisBottom(x).ticks(5));
  svg.append("g").attr("class", "axis").attr("transform", `translate(${m.left},0)`).call(axisLeft(y).ticks(5));
  svg.append("text").attr("class", "label").attr("x", size / 2).attr("y", size - 4).attr("text-anchor", "middle")
    .text(averaged("recall", data));
  svg.append("text").attr("class", "label").attr("transform", `translate(12,${size / 2}) rotate(-90)`)
    .attr("text-anchor", "middle").text(averaged("precision", data));
  svg.append("g").selectAll("circle").data(points).join("circle")
    .attr("cx", (p) => x(p.recall)).attr("cy", (p) => y(p.precision)).attr("r", 4.5)
    .attr("fill", (p) => (p.kind === "live" ? p.color : "none")).attr("stroke", (p) => p.color)
    .attr("stroke-width", 1.5).attr("data-kind", (p) => p.kind)
    .append("title").text((p) => `${p.model.name} v${p.version.version} (${p.version.stage}, ${p.kind}): ` +
      `precision ${number(p.precision)}, recall ${number(p.recall)}`);
  figure.append(legend(data.models.map((model, i) => [model.name, colorOf(i)])));
  root.append(figure);
}

// -- runs and schedules ----------------------------------------------------------------------

function runRow(run) {
  const row = el("tr");
  row.dataset.run = run.run_id;
  cell(row, "run", run.run_id, "text");
  cell(row, "job", run.job, "text");
  cell(row, "status", run.status + (run.reason ? ` (${run.reason})` : ""));
  cell(row, "started", time(run.started_at));
  cell(row, "duration", duration(run.duration), "num");
  cell(row, "parameters", pairs(run.parameters), "text");
  cell(row, "metrics", Object.entries(run.metrics || {})
    .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toPrecision(4)) : JSON.stringify(v)}`).join(", "),
  "text");
  const td = cell(row, "output");
  if (run.has_output) {
    const link = el("a", "notebook");
    link.href = `api/runs/${encodeURIComponent(run.run_id)}/output`;
    link.download = `${run.run_id}.ipynb`;
    td.append(link);
  } else {
    td.textContent = "—";
  }
  return row;
}

function renderRuns(page) {
  const first = document.getElementById("runs-first");
  first.replaceChildren(...page.items.map(runRow));
  if (page.items.length === 0) {
    const row = el("tr");
    const td = el("td", "No run yet.", "empty");
    td.colSpan = 8;
    row.append(td);
    first.append(row);
  }
  document.getElementById("more-runs").hidden = !page.more;
  if (extraRuns > 0) loadRuns(PAGE, extraRuns, true);
}

async function loadRuns(offset, limit, replace) {
  const button = document.getElementById("more-runs");
  button.disabled = true;
  try {
    const response = await fetch(`api/runs?offset=${offset}&limit=${limit}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}`);
    const page = await response.json();
    const more = document.getElementById("runs-more");
    if (replace) more.replaceChildren();
    more.append(...page.items.map(runRow));
    extraRuns = more.children.length;
    button.hidden = !page.more;
  } catch (error) {
    button.textContent = "More runs (the last attempt failed; retry)";
  } finally {
    button.disabled = false;
  }
}

function renderSchedules(schedules) {
  const body = document.getElementById("schedules-body");
  body.replaceChildren();
  for (const s of schedules) {
    const row = el("tr");
    row.dataset.schedule = s.name;
    cell(row, "name", s.name, "text");
    cell(row, "notebook", s.notebook, "text");
    cell(row, "cron", s.cron);
    cell(row, "next_run", time(s.next_run));
    cell(row, "last_run", s.last_run_id || "—", "text");
    cell(row, "parameters", pairs(s.parameters), "text");
    body.append(row);
  }
  if (schedules.length === 0) {
    const row = el("tr");
    const td = el("td", "No schedule.", "empty");
    td.colSpan = 6;
    row.append(td);
    body.append(row);
  }
}

function versions(serving, challengers) {
  return Object.entries(serving || {}).map(([name, v]) => {
    const challenger = (challengers || {})[name];
    return challenger === undefined ? `${name} v${v}` : `${name} v${v} (challenger v${challenger})`;
  }).join(", ");
}

function renderReplicas(replicas) {
  const body = document.getElementById("replicas-body");
  const items = (replicas && replicas.items) || [];
  body.replaceChildren();
  for (const r of items) {
    const row = el("tr");
    row.dataset.replica = r.replica;
    cell(row, "replica", r.replica, "text");
    cell(row, "host", `${r.host} (pid ${r.pid})`, "text");
    cell(row, "serving", versions(r.serving, r.challengers) || "—", "text");
    cell(row, "rows_last_minute", pairs(r.rows_last_minute) || "0", "text");
    cell(row, "rows", pairs(r.rows) || "0", "text");
    body.append(row);
  }
  if (items.length === 0) {
    const row = el("tr");
    const td = el("td", "No serving replica reports to this store.", "empty");
    td.colSpan = 5;
    row.append(td);
    body.append(row);
  }
  const foot = document.getElementById("replicas-combined");
  foot.replaceChildren();
  for (const [name, c] of Object.entries((replicas && replicas.combined) || {})) {
    const row = el("tr");
    row.dataset.model = name;
    cell(row, "replica", `All replicas: ${name}`, "text");
    cell(row, "host", `${c.replicas} replica${c.replicas === 1 ? "" : "s"}`);
    const served = c.versions.map((v) => `v${v}`).join(", ");
    cell(row, "serving", c.agree ? served : `${served}: replicas differ (a swap in progress)`, "text",
      c.agree ? "agree" : "differ");
    cell(row, "rows_last_minute", String(c.rows_last_minute), undefined, c.rows_last_minute);
    cell(row, "rows", "");
    foot.append(row);
  }
}

// -- live channel ------------------------------------------------------------------------------

function render(next) {
  state = next;
  if (next.data) {
    renderModels(next.data);
    renderScatter(next.data);
    renderRuns(next.data.runs);
    renderSchedules(next.data.schedules);
    renderReplicas(next.data.replicas);
  }
  showFreshness();
  document.body.dataset.fingerprint = next.fingerprint;
}

function connect() {
  const events = new EventSource("api/events");
  let offlineTimer = null;
  events.addEventListener("state", (message) => {
    lastMessageAt = new Date();
    render(JSON.parse(message.data));
  });
  events.addEventListener("open", () => {
    clearTimeout(offlineTimer);
    offlineTimer = null;
    showFreshness();
  });
  events.addEventListener("error", () => {
    if (offlineTimer !== null) return;
    offlineTimer = setTimeout(() => {
      offlineTimer = null;
      if (events.readyState !== EventSource.OPEN) {
        const since = lastMessageAt ? lastMessageAt.toISOString() : null;
        setStatus("offline", `The dashboard server cannot be reached; data stale since ${time(since)} UTC.`);
      }
    }, OFFLINE_AFTER_MS);
  });
}

document.getElementById("more-runs").addEventListener("click", () => loadRuns(PAGE + extraRuns, PAGE, false));
connect();
