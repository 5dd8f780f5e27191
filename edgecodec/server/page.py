"""The viewer page: cameras with their latest frame, fps, bitrate and lag.

The page holds no data; it reads the API with a viewer token kept in sessionStorage (per
tab, gone when the tab closes). The token comes from the login form, or from the URL
fragment ``#token=...`` (fragments never reach the server or its logs), which the page
removes from the address bar at once.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecodec cameras</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:320px;display:block}
#error{color:#b00}.stale{color:#b60}
</style></head><body>
<h1>Cameras</h1>
<form id="login" hidden><label>Viewer token <input id="token" type="password" autocomplete="off"></label>
<button>Show cameras</button></form>
<p id="error"></p>
<table id="cameras" hidden><thead><tr><th>camera</th><th>frames</th><th>latest</th><th>captured</th>
<th>fps</th><th>kbit/s</th><th>lag s</th><th>age s</th><th>latest frame</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const KEY = "edgecodec-viewer-token";
const shown = {};
const m = location.hash.match(/token=([^&]+)/);
if (m) { sessionStorage.setItem(KEY, decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
function token() { return sessionStorage.getItem(KEY); }
function api(path) { return fetch(path, {headers: {Authorization: "Bearer " + token()}}); }
function fmt(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }
function login(message) {
  document.getElementById("error").textContent = message || "";
  document.getElementById("login").hidden = false;
}
async function refresh() {
  if (!token()) { login(""); return; }
  let r;
  try { r = await api("/api/v1/devices"); } catch (e) { login("server unreachable"); return; }
  if (r.status === 401 || r.status === 403) { sessionStorage.removeItem(KEY); login("token refused"); return; }
  const doc = await r.json();
  document.getElementById("error").textContent = "";
  document.getElementById("login").hidden = true;
  const table = document.getElementById("cameras");
  table.hidden = false;
  for (const d of doc.devices) render(table.tBodies[0], d);
}
function render(body, d) {
  let tr = document.getElementById("cam-" + d.device_id);
  if (!tr) { tr = document.createElement("tr"); tr.id = "cam-" + d.device_id; tr.className = "camera"; body.appendChild(tr); }
  const img = tr.querySelector("img") || document.createElement("img");
  tr.replaceChildren();
  const latest = d.latest;
  cell(tr, d.device_id);
  cell(tr, d.frames);
  cell(tr, latest ? latest.seq : "-");
  cell(tr, latest ? new Date(latest.capture_us / 1000).toISOString().replace("T", " ").slice(0, 19) : "-");
  cell(tr, fmt(d.fps, 1)).className = "fps";
  cell(tr, d.bitrate_bps === null ? "-" : fmt(d.bitrate_bps / 1000, 1)).className = "kbps";
  cell(tr, fmt(d.lag_s, 2)).className = "lag";
  const age = cell(tr, fmt(d.age_s, 1));
  if (d.age_s > 10) age.className = "stale";
  cell(tr, "").appendChild(img);
  if (latest && shown[d.device_id] !== latest.seq) { shown[d.device_id] = latest.seq; loadImage(img, latest); }
}
async function loadImage(img, latest) {
  const r = await api(latest.png_url);
  if (!r.ok) { img.alt = "frame " + latest.seq + ": " + r.status; return; }
  const old = img.src;
  img.onload = () => { img.dataset.loaded = "1"; img.dataset.seq = latest.seq; if (old) URL.revokeObjectURL(old); };
  img.alt = "frame " + latest.seq;
  img.src = URL.createObjectURL(await r.blob());
}
document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
  refresh();
});
refresh();
setInterval(refresh, 2000);
</script></body></html>
"""
