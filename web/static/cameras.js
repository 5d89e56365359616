// Door cameras page: list the client's cameras with their status, watch one live over WebRTC
// (POST /api/streaming/cameras/{id}/view/), draw its `faces` overlay and log its access decisions.
// Plain ES module, no build step, no third-party code.

const $ = (id) => document.getElementById(id);
const state = { auth: null, pc: null, camera: null, names: new Map(), poll: null };

async function api(path, { method = "GET", body } = {}) {
  const headers = { "Content-Type": "application/json", Authorization: state.auth };
  const resp = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error((data.error && data.error.message) || `${resp.status} ${resp.statusText}`);
  return data;
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const apiKey = `ApiKey ${form.api_key.value.trim()}:${form.api_secret.value}`;
  form.api_secret.value = "";
  $("signin-error").textContent = "";
  try {
    const resp = await fetch("/api/auth/client-token/", { method: "POST", headers: { Authorization: apiKey } });
    if (resp.ok) {
      const tok = await resp.json();
      state.auth = `Bearer ${tok.access_token || tok.access || tok.token}`;
    } else if (resp.status === 404) {
      state.auth = apiKey;
    } else {
      throw new Error("Sign-in failed");
    }
    $("signin").hidden = true;
    $("cameras").hidden = false;
    await refresh();
    state.poll = setInterval(refresh, 2000);
  } catch (e) {
    $("signin-error").textContent = e.message;
  }
});

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function refresh() {
  const list = await api("/api/streaming/cameras/");
  const rows = $("camera-rows");
  rows.replaceChildren();
  $("no-cameras").hidden = list.count > 0;
  for (const cam of list.results) {
    const st = await api(`/api/streaming/cameras/${encodeURIComponent(cam.id)}/status/`);
    const tr = document.createElement("tr");
    tr.dataset.camera = cam.id;
    tr.append(cell(cam.name || cam.id), cell(cam.door_id), cell(st.status, `status-${st.status}`),
      cell(Number(st.fps).toFixed(1)), cell(String(st.frames_dropped)), cell(st.last_error || ""));
    const td = document.createElement("td");
    const btn = document.createElement("button");
    btn.type = "button";
    btn.textContent = "Watch";
    btn.className = "watch-btn";
    btn.addEventListener("click", () => watch(cam));
    td.append(btn);
    tr.append(td);
    rows.append(tr);
  }
}

async function watch(cam) {
  await stopWatching();
  state.camera = cam;
  $("watch").hidden = false;
  $("watch-title").textContent = `${cam.name || cam.id}${cam.door_id ? " · door " + cam.door_id : ""}`;
  $("decision-log").replaceChildren();
  const st = await api(`/api/streaming/cameras/${encodeURIComponent(cam.id)}/status/`);
  for (const d of [...st.recent_decisions].reverse()) logDecision(d); // newest ends on top
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  const channel = pc.createDataChannel("events");
  channel.onmessage = (ev) => onEvent(JSON.parse(ev.data));
  pc.ontrack = (ev) => { $("cam-video").srcObject = new MediaStream([ev.track]); };
  pc.onconnectionstatechange = () => { $("cam-conn").textContent = pc.connectionState; };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  const answer = await api(`/api/streaming/cameras/${encodeURIComponent(cam.id)}/view/`, {
    method: "POST", body: { sdp: pc.localDescription.sdp, type: "offer" },
  });
  await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
}

function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);
  });
}

async function stopWatching() {
  if (state.pc) state.pc.close();
  state.pc = null;
  state.names.clear();
  $("watch").hidden = true;
}
$("stop-watch").addEventListener("click", stopWatching);

function onEvent(msg) {
  window.facestreamCameraEvents = window.facestreamCameraEvents || [];
  window.facestreamCameraEvents.push(msg.type);
  const p = msg.payload || {};
  if (msg.type === "faces") drawFaces(p);
  else if (msg.type === "recognition_result" && p.name) state.names.set(p.track_id, p.name);
  else if (msg.type === "access_decision") logDecision(p);
}

function logDecision(p) {
  const who = p.name || p.user_id || "unknown person";
  const text = `${new Date(p.ts * 1000).toLocaleTimeString()} · ${p.decision.toUpperCase()} · ${who}${p.reason !== "granted" ? " (" + p.reason.replace(/_/g, " ") + ")" : ""}`;
  const li = document.createElement("li");
  li.className = p.decision;
  li.textContent = text;
  $("decision-log").prepend(li);
  $("last-decision").textContent = text;
  $("last-decision").className = p.decision;
}

function drawFaces(p) {
  const video = $("cam-video");
  const canvas = $("cam-overlay");
  const rect = canvas.getBoundingClientRect();
  canvas.width = rect.width * devicePixelRatio;
  canvas.height = rect.height * devicePixelRatio;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const fw = p.frame_width || video.videoWidth, fh = p.frame_height || video.videoHeight;
  if (!fw || !fh) return;
  const scale = Math.min(canvas.width / fw, canvas.height / fh);
  const ox = (canvas.width - fw * scale) / 2, oy = (canvas.height - fh * scale) / 2;
  ctx.lineWidth = 3 * devicePixelRatio;
  ctx.font = `${14 * devicePixelRatio}px system-ui, sans-serif`;
  for (const f of p.faces || []) {
    const [x1, y1, x2, y2] = f.box;
    const name = state.names.get(f.track_id) || f.label || "";
    const colour = name && name !== "unknown" ? "#2ea043" : "#58a6ff";
    ctx.strokeStyle = colour;
    ctx.strokeRect(ox + x1 * scale, oy + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale);
    const tag = `#${f.track_id}${name ? " " + name : ""}`;
    const tw = ctx.measureText(tag).width + 10 * devicePixelRatio;
    ctx.fillStyle = colour;
    ctx.fillRect(ox + x1 * scale, oy + y1 * scale - 22 * devicePixelRatio, tw, 22 * devicePixelRatio);
    ctx.fillStyle = "#04101d";
    ctx.fillText(tag, ox + x1 * scale + 5 * devicePixelRatio, oy + y1 * scale - 6 * devicePixelRatio);
  }
}
