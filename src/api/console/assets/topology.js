// The topology console: polls GET /v1/internal/ui/topology and draws services, the mesh graph,
// the intentions and the decision per pair.
"use strict";
(() => {
  const { call, errorText, esc, poll } = Console;
  const SVG = "http://www.w3.org/2000/svg";
  const label = { allow: "allowed", deny: "denied", l7: "L7 rules" };

  function layout(nodes, width, height) {
    // The gateway on the left; services on an ellipse to its right.
    const at = {};
    const services = nodes.filter(n => !n.gateway);
    at[nodes[0].name] = { x: 90, y: height / 2 };
    const cx = width * 0.6, cy = height / 2, rx = Math.max(120, width * 0.3), ry = height / 2 - 50;
    services.forEach((n, i) => {
      const a = Math.PI * (i / Math.max(1, services.length) * 2 - 0.5);
      at[n.name] = { x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a) };
    });
    return at;
  }

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function draw(t) {
    const svg = document.getElementById("graph");
    const width = svg.clientWidth || 900, height = 420;
    const nodes = [{ name: t.gateway, gateway: true, health: "up" }].concat(t.services);
    const at = layout(nodes, width, height);
    svg.replaceChildren();
    const defs = el("defs", {}, svg);
    for (const d of ["allow", "deny", "l7"]) {
      const m = el("marker", { id: "arrow-" + d, viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
      el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow " + d }, m);
    }
    for (const e of t.edges) {
      const a = at[e.source], b = at[e.destination];
      if (!a || !b) continue;
      const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
      const r = 24, x1 = a.x + dx / len * r, y1 = a.y + dy / len * r, x2 = b.x - dx / len * (r + 2), y2 = b.y - dy / len * (r + 2);
      // Curved a little so a pair in both directions shows two edges.
      const mx = (x1 + x2) / 2 - dy / len * 18, my = (y1 + y2) / 2 + dx / len * 18;
      const path = el("path", {
        d: `M ${x1} ${y1} Q ${mx} ${my} ${x2} ${y2}`, class: "edge " + e.decision,
        "marker-end": `url(#arrow-${e.decision})`, "data-source": e.source,
        "data-destination": e.destination, "data-decision": e.decision, "data-kind": e.kind,
      }, svg);
      const title = el("title", {}, path);
      title.textContent = `${e.source} → ${e.destination}: ${label[e.decision]} (${e.reason})` +
        (e.routes.length ? `\nroutes: ${e.routes.join(", ")}` : "");
    }
    for (const n of nodes) {
      const p = at[n.name];
      const g = el("g", { class: "node " + (n.gateway ? "gateway" : n.health), "data-service": n.name, "data-health": n.health }, svg);
      el("circle", { cx: p.x, cy: p.y, r: 24 }, g);
      const text = el("text", { x: p.x, y: p.y + 40, "text-anchor": "middle" }, g);
      text.textContent = n.name + (n.gateway ? " (gateway)" : n.health === "up" ? "" : ` · ${n.health}`);
    }
  }

  function rows(id, html) {
    document.querySelector(`#${id} tbody`).innerHTML = html.join("");
  }

  async function refresh() {
    const r = await call("GET", "/v1/internal/ui/topology", undefined, "X-Consul-Token");
    if (!r.ok) throw new Error(errorText(r));
    // The server says when nothing changed (304): the drawing stays as it is.
    if (r.unchanged) return;
    const t = r.body;
    document.getElementById("meta").textContent = `stack ${t.stack} · datacenter ${t.datacenter} · intentions index ${t.index}`;
    draw(t);
    rows("services", t.services.map(s => `<tr data-service="${esc(s.name)}"><td>${esc(s.name)}</td>` +
      `<td><span class="badge ${esc(s.health)}">${esc(s.health)}</span></td><td>${esc(s.protocol)}</td>` +
      `<td>${esc(s.address)}</td><td>${esc(s.sidecar.name)} <span class="muted">${esc(s.sidecar.address)}</span></td>` +
      `<td>${esc(s.upstreams.join(", "))}</td></tr>`));
    rows("intentions", t.intentions.map(i => `<tr><td>${esc(i.source)}</td><td>${esc(i.destination)}</td>` +
      `<td><span class="badge ${esc(i.action)}">${esc(i.action === "l7" ? `L7 (${i.permissions} permissions)` : i.action)}</span></td>` +
      `<td class="num">${esc(i.precedence)}</td></tr>`));
    document.getElementById("default").textContent = `No matching intention: ${t.default_action}.`;
    rows("pairs", t.pairs.map(p => `<tr data-source="${esc(p.source)}" data-destination="${esc(p.destination)}" data-decision="${esc(p.decision)}">` +
      `<td>${esc(p.source)}</td><td>${esc(p.destination)}</td><td><span class="badge ${esc(p.decision)}">${esc(label[p.decision])}</span></td>` +
      `<td class="muted">${esc(p.reason)}</td></tr>`));
  }

  poll(500, refresh, document.getElementById("status"));
})();
