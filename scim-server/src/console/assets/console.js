// The operator console's script: live updates only. Every page works without it.
"use strict";

// Copy buttons: <button data-copy="ID"> copies the value of the element ID.
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-copy]");
  if (!b) return;
  const el = document.getElementById(b.dataset.copy);
  if (!el) return;
  const text = el.value !== undefined ? el.value : el.textContent;
  const done = () => { b.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => { el.select(); document.execCommand("copy"); done(); });
  } else {
    el.select(); document.execCommand("copy"); done();
  }
});

function cell(tr, text, code) {
  const td = document.createElement("td");
  if (code) { const c = document.createElement("code"); c.textContent = text || ""; td.appendChild(c); }
  else td.textContent = text || "";
  tr.appendChild(td);
  return td;
}

// Live activity: <tbody data-stream="URL"> gets a row per server-sent change.
const activity = document.querySelector("tbody[data-stream]");
if (activity && window.EventSource) {
  const state = document.getElementById("live-state");
  const es = new EventSource(activity.dataset.stream);
  es.addEventListener("open", () => { if (state) state.textContent = "Live."; });
  es.addEventListener("error", () => { if (state) state.textContent = "Reconnecting..."; });
  es.addEventListener("change", (ev) => {
    const c = JSON.parse(ev.data);
    const tr = document.createElement("tr");
    tr.className = "fresh";
    cell(tr, c.at);
    const op = cell(tr, "");
    const tag = document.createElement("span"); tag.className = "tag"; tag.textContent = c.op;
    op.appendChild(tag); op.appendChild(document.createTextNode(" " + (c.method || "")));
    const res = cell(tr, c.kind + " ");
    const a = document.createElement("a");
    a.href = "/console/orgs/" + encodeURIComponent(c.org) + "/directory/" + encodeURIComponent(c.id);
    const code = document.createElement("code"); code.textContent = c.id; a.appendChild(code);
    res.appendChild(a);
    cell(tr, c.org, true);
    cell(tr, c.actor, true);
    cell(tr, c.request_id, true);
    activity.insertBefore(tr, activity.firstChild);
    while (activity.rows.length > 500) activity.deleteRow(activity.rows.length - 1);
  });
}

// Refreshing tables: <tbody data-refresh="URL"> is replaced by the rows the URL renders.
const refresh = document.querySelector("tbody[data-refresh]");
if (refresh) {
  setInterval(() => {
    if (document.hidden) return;
    fetch(refresh.dataset.refresh, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const body = doc.querySelector("tbody");
        if (body) refresh.replaceChildren(...body.children);
      })
      .catch(() => {});
  }, 1000);
}
