// Shared by both consoles: the API token (kept in this tab only), JSON calls, escaping, polling.
"use strict";
const Console = (() => {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem("gauntlet-token", params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }
  const token = () => sessionStorage.getItem("gauntlet-token");

  // The last answer to each GET that carried an ETag: sent back as If-None-Match, so an
  // unchanged answer comes as an empty 304 and the page skips redrawing it.
  const kept = new Map();

  // One call of this port's API: resolves to {ok, status, body, unchanged} (body parsed when
  // JSON; `unchanged` when a GET's answer is the one the page already has).
  async function call(method, path, body, tokenHeader) {
    const headers = {};
    const t = token();
    if (t) headers[tokenHeader || "Authorization"] = tokenHeader ? t : "Bearer " + t;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const before = method === "GET" ? kept.get(path) : undefined;
    if (before) headers["If-None-Match"] = before.etag;
    const response = await fetch(path, {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body)),
    });
    if (response.status === 304 && before) return { ok: true, status: 200, body: before.body, unchanged: true };
    const text = await response.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch (_) { /* plain text */ }
    const etag = response.headers.get("ETag");
    if (method === "GET" && response.ok && etag) kept.set(path, { etag, body: parsed });
    else if (method === "GET") kept.delete(path);
    return { ok: response.ok, status: response.status, body: parsed, unchanged: false };
  }

  // The API's own error message for a failed call, as the control or catalog API wrote it.
  function errorText(r) {
    const b = r.body;
    const message = b && typeof b === "object" ? (b.message || b.error || JSON.stringify(b)) : String(b || "");
    return r.status + " " + message;
  }

  function esc(v) {
    return String(v === undefined || v === null ? "" : v)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // Runs `refresh` now and every `ms`, one at a time, while the tab is shown (a hidden tab
  // costs the stack nothing); shows the failure of a refresh in `status`.
  function poll(ms, refresh, status) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        await refresh();
        status.textContent = "live";
        status.className = "ok";
      } catch (e) {
        status.textContent = String(e.message || e);
        status.className = "err";
      } finally { busy = false; }
    };
    tick();
    document.addEventListener("visibilitychange", tick);
    return setInterval(tick, ms);
  }

  // Shows the result of a control next to it: the API's error, or a short confirmation.
  function report(el, r) {
    el.textContent = r.ok ? "done" : errorText(r);
    el.classList.remove("ok", "err");
    el.classList.add(r.ok ? "ok" : "err");
  }

  return { call, errorText, esc, poll, report, token };
})();
