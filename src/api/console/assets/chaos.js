// The chaos console: polls the control API (GET /, /breakers, /traffic, /traces, /proxies, /clock) and
// acts only through its endpoints; every error shown is the API's own answer.
"use strict";
(() => {
  const { call, errorText, esc, poll, report } = Console;
  const EXAMPLE_FAULT = '{"action":"abort","status":503}';
  const EXAMPLE_TOXIC = '{"latency":200,"jitter":0}';
  // Rows are rebuilt only when their data changes, so a half-typed form survives a refresh.
  const shown = {};

  function rows(id, key, html) {
    if (shown[id] === key) return;
    shown[id] = key;
    document.querySelector(`#${id} tbody`).innerHTML = html.join("");
  }

  function timeline(b, now) {
    // From the stack's start to now, each stretch coloured by the state it was in.
    const spans = [];
    let from = 0, state = "CLOSED";
    for (const t of b.transitions) {
      spans.push([from, t.stack_time, state]);
      from = t.stack_time; state = t.to;
    }
    spans.push([from, now, state]);
    const total = Math.max(now, 1e-9);
    return `<div class="timeline" title="0 s … ${now.toFixed(1)} s">` + spans.map(([a, z, s]) =>
      `<div class="${esc(s)}" data-width="${Math.max(0, (z - a) / total * 100).toFixed(3)}" title="${esc(s)} ${a.toFixed(1)}–${z.toFixed(1)} s"></div>`).join("") + "</div>";
  }

  // One trace as a waterfall: a row per span, indented under its parent, its bar placed on the
  // trace's time axis (positions through the CSSOM, as the CSP allows no inline styles).
  function waterfall(t) {
    const total = Math.max(t.duration_ms, 0.001);
    return `<div class="waterfall" data-trace="${esc(t.trace_id)}">` + t.spans.map(s => {
      const kind = /^(fault|toxics)/.test(s.name) ? "fault" : /^attempt/.test(s.name) ? "attempt" : s.component === "gateway" ? "gateway" : "sidecar";
      const attrs = Object.entries(s.attributes || {}).map(([k, v]) => `${k}: ${v}`).join("\n");
      return `<div class="span-row${s.error ? " error" : ""}" data-span="${esc(s.name)}" data-kind="${kind}">` +
        `<span class="span-name" data-depth="${Math.min(s.depth, 8)}" title="${esc(s.component)}">${esc(s.name)}</span>` +
        `<span class="span-track"><span class="span-bar ${kind}" data-left="${(s.offset_ms / total * 100).toFixed(3)}" data-width="${Math.max(0.4, s.duration_ms / total * 100).toFixed(3)}" title="${esc(s.name + "\n" + s.component + "\n+" + s.offset_ms + " ms for " + s.duration_ms + " ms" + (attrs ? "\n" + attrs : ""))}"></span></span>` +
        `<span class="span-ms num">${s.duration_ms.toFixed(2)} ms</span></div>`;
    }).join("") + "</div>";
  }

  // Which traces are unfolded, so a refresh keeps them open; a waterfall is drawn only once
  // its trace is unfolded (a refresh under load brings new traces every time).
  const unfolded = new Set();
  let traceById = new Map();
  document.addEventListener("toggle", e => {
    const d = e.target;
    if (!d.dataset || !d.dataset.trace) return;
    if (d.open) { unfolded.add(d.dataset.trace); unfold(d); } else unfolded.delete(d.dataset.trace);
  }, true);

  function unfold(d) {
    const t = traceById.get(d.dataset.trace);
    if (!t || d.querySelector(".waterfall")) return;
    d.insertAdjacentHTML("beforeend", waterfall(t));
    // Positions through the CSSOM: the page's CSP allows no inline style attributes.
    for (const b of d.querySelectorAll(".span-bar")) {
      b.style.marginLeft = b.dataset.left + "%";
      b.style.width = b.dataset.width + "%";
    }
    for (const n of d.querySelectorAll(".span-name")) n.style.paddingLeft = (Number(n.dataset.depth) * 0.8) + "em";
  }

  async function get(path) {
    const r = await call("GET", path);
    if (!r.ok) throw new Error(`${path}: ${errorText(r)}`);
    return r;
  }

  async function refresh() {
    const answers = await Promise.all(
      ["/", "/breakers", "/traffic", "/proxies", "/clock", "/traces?limit=15"].map(get));
    const [overview, breakers, traffic, proxies, clock, traces] = answers.map(r => r.body);
    document.getElementById("meta").textContent = `stack ${overview.stack} · fault seed ${overview.seed}`;
    document.getElementById("clock").textContent = `+${clock.offset_seconds} s`;

    rows("services", JSON.stringify(overview.services.map(s => [s.name, s.health, s.faults])),
      overview.services.map(s => `<tr data-service="${esc(s.name)}" data-health="${esc(s.health)}"><td>${esc(s.name)}</td>` +
        `<td><span class="badge ${esc(s.health)}">${esc(s.health)}</span></td>` +
        `<td>${["stop", "start", "kill", "pause", "unpause"].map(a => `<button type="button" data-act="process" data-action="${a}" data-service="${esc(s.name)}">${a}</button>`).join(" ")}<span class="msg"></span></td>` +
        `<td>${s.faults.map(f => `<div>#${esc(f.id)} ${esc(f.description)} <button type="button" data-act="unfault" data-service="${esc(s.name)}" data-id="${esc(f.id)}">remove</button></div>`).join("") || '<span class="muted">none</span>'}<span class="msg"></span></td>` +
        `<td><form data-act="fault" data-service="${esc(s.name)}"><textarea name="rule" aria-label="fault rule">${esc(EXAMPLE_FAULT)}</textarea> <button type="submit">add</button><span class="msg"></span></form></td></tr>`));

    // The timeline's last stretch grows with the clock: rebuilt on every refresh.
    shown.breakers = undefined;
    rows("breakers", "", breakers.data.map(b => `<tr data-service="${esc(b.service)}" data-state="${esc(b.state)}"><td>${esc(b.service)}</td>` +
      `<td><span class="badge ${esc(b.state)}">${esc(b.state)}</span></td><td class="num">${esc(b.consecutive_failures)}</td>` +
      `<td>${timeline(b, breakers.stack_time)}</td>` +
      `<td>${b.transitions.slice(-5).map(t => `<div>${t.stack_time.toFixed(1)} s: ${esc(t.from)} → ${esc(t.to)} <span class="muted">${esc(t.reason)}</span></div>`).join("") || '<span class="muted">none</span>'}</td></tr>`));

    // Widths through the CSSOM: the page's CSP allows no inline style attributes.
    for (const d of document.querySelectorAll("#breakers [data-width]")) d.style.width = d.dataset.width + "%";

    const ms = v => v === null || v === undefined ? "–" : v.toFixed(1);
    document.getElementById("window").textContent = `(last ${Math.round(traffic.window_seconds)} s)`;
    rows("traffic", JSON.stringify(traffic.rows), traffic.rows.map(r => `<tr data-route="${esc(r.route)}" data-consumer="${esc(r.consumer)}">` +
      `<td>${esc(r.route || "(no route)")}</td><td>${esc(r.consumer || "(anonymous)")}</td><td class="num">${r.requests}</td>` +
      `<td class="num">${r.per_second.toFixed(2)}</td>` +
      ["2xx", "3xx", "4xx", "5xx"].map(c => `<td class="num">${r.status[c] || 0}</td>`).join("") +
      `<td class="num" data-p50>${ms(r.p50_ms)}</td><td class="num" data-p99>${ms(r.p99_ms)}</td></tr>`));

    if (!answers[5].unchanged) {
      traceById = new Map(traces.data.map(t => [t.trace_id, t]));
      rows("traces", JSON.stringify([traces.recorded, traces.data.map(t => t.trace_id)]), traces.data.map((t, i) => {
        const root = t.spans[0] || { attributes: {} };
        const status = (root.attributes || {})["http.response.status_code"] || "";
        const open = unfolded.has(t.trace_id) || (i === 0 && unfolded.size === 0);
        return `<tr data-trace="${esc(t.trace_id)}"${t.error ? ' data-error="true"' : ""}><td class="mono">${esc(t.name)}</td>` +
          `<td><span class="badge ${t.error ? "stopped" : "up"}">${esc(status || (t.error ? "error" : "ok"))}</span></td>` +
          `<td class="num">${t.duration_ms.toFixed(2)} ms</td>` +
          `<td><details data-trace="${esc(t.trace_id)}"${open ? " open" : ""}><summary>${t.spans.length} spans · ${esc(t.trace_id)}</summary></details></td></tr>`;
      }));
      for (const d of document.querySelectorAll("#traces details[open]")) unfold(d);
    }

    const links = Object.values(proxies.proxies || proxies).sort((a, b) => a.name.localeCompare(b.name));
    rows("links", JSON.stringify(links), links.map(l => `<tr data-link="${esc(l.name)}"><td>${esc(l.name)}</td>` +
      `<td><span class="badge ${l.enabled ? "up" : "stopped"}">${l.enabled ? "yes" : "down"}</span> <button type="button" data-act="enable" data-link="${esc(l.name)}" data-enabled="${!l.enabled}">${l.enabled ? "disable" : "enable"}</button><span class="msg"></span></td>` +
      `<td>${(l.toxics || []).map(t => `<form data-act="retoxic" data-link="${esc(l.name)}" data-toxic="${esc(t.name)}">${esc(t.name)}: ${esc(t.type)} ${esc(t.stream)} ` +
        `<textarea name="attributes" aria-label="attributes">${esc(JSON.stringify(t.attributes))}</textarea> <button type="submit">change</button> ` +
        `<button type="button" data-act="untoxic" data-link="${esc(l.name)}" data-toxic="${esc(t.name)}">remove</button><span class="msg"></span></form>`).join("") || '<span class="muted">none</span>'}</td>` +
      `<td><form data-act="toxic" data-link="${esc(l.name)}"><select name="type" aria-label="type">${["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"].map(t => `<option>${t}</option>`).join("")}</select> ` +
        `<select name="stream" aria-label="stream"><option>downstream</option><option>upstream</option></select> ` +
        `<input name="toxicity" size="3" value="1" aria-label="toxicity"> <textarea name="attributes" aria-label="attributes">${esc(EXAMPLE_TOXIC)}</textarea> <button type="submit">add</button><span class="msg"></span></form></td></tr>`));
  }

  // Every control is one call of the control API; its answer goes next to the control.
  function parse(text, msg) {
    try { return JSON.parse(text); } catch (e) { msg.textContent = "not JSON: " + e.message; msg.className = "err"; return undefined; }
  }

  async function act(el) {
    const msg = el.querySelector(":scope > .msg") || el.parentElement.querySelector(".msg");
    const d = el.dataset, enc = encodeURIComponent;
    let r;
    switch (d.act) {
      case "process": r = await call("POST", `/services/${enc(d.service)}/${d.action}`); break;
      case "unfault": r = await call("DELETE", `/services/${enc(d.service)}/faults/${enc(d.id)}`); break;
      case "fault": r = await call("POST", `/services/${enc(d.service)}/faults`, el.querySelector("[name=rule]").value); break;
      case "enable": r = await call("POST", `/proxies/${enc(d.link)}`, { enabled: d.enabled === "true" }); break;
      case "untoxic": r = await call("DELETE", `/proxies/${enc(d.link)}/toxics/${enc(d.toxic)}`); break;
      case "retoxic": {
        const attributes = parse(el.querySelector("[name=attributes]").value, msg);
        if (attributes === undefined) return;
        r = await call("POST", `/proxies/${enc(d.link)}/toxics/${enc(d.toxic)}`, { attributes });
        break;
      }
      case "toxic": {
        const attributes = parse(el.querySelector("[name=attributes]").value, msg);
        if (attributes === undefined) return;
        const field = name => el.querySelector(`[name=${name}]`).value;
        const toxicity = Number(field("toxicity"));
        r = await call("POST", `/proxies/${enc(d.link)}/toxics`, {
          type: field("type"), stream: field("stream"), toxicity: Number.isNaN(toxicity) ? field("toxicity") : toxicity, attributes,
        });
        break;
      }
      default: return;
    }
    if (r.ok) { for (const k of Object.keys(shown)) shown[k] = undefined; await refresh().catch(() => {}); }
    // The refresh may have rebuilt the row: report on the control that is there now.
    report(msg && msg.isConnected ? msg : document.getElementById("status"), r);
  }

  document.addEventListener("click", e => {
    const b = e.target.closest("button[data-act]");
    if (b && b.type === "button") { e.preventDefault(); act(b); }
  });
  document.addEventListener("submit", e => {
    const f = e.target.closest("form[data-act]");
    if (f) { e.preventDefault(); act(f); }
  });
  document.getElementById("advance").addEventListener("submit", async e => {
    e.preventDefault();
    const f = e.target, text = f.querySelector("[name=seconds]").value, seconds = Number(text);
    const r = await call("POST", "/clock/advance", Number.isNaN(seconds) ? { duration: text } : { seconds });
    report(f.querySelector(".msg"), r);
  });

  poll(500, refresh, document.getElementById("status"));
})();
