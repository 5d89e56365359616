// Facestream live page: sign in, start a WebRTC session, draw the server's events over the video.
// Plain ES module, no build step, no third-party code.

const $ = (id) => document.getElementById(id);
const state = { auth: null, pc: null, stream: null, session: null, names: new Map() };

const PROMPTS = {
  please_blink: "Please blink", please_turn_left: "Turn your head left", please_turn_right: "Turn your head right",
  please_nod: "Nod your head", please_head_movement: "Move your head a little",
};

function setConn(text, cls) {
  const el = $("conn");
  el.textContent = text;
  el.className = `pill ${cls}`;
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { "Content-Type": "application/json", Authorization: state.auth };
  const resp = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = data.error || {};
    throw new Error(err.message || data.detail || `${resp.status} ${resp.statusText}`);
  }
  return data;
}

// --- sign in: exchange key:secret for a JWT and forget the secret -------------------------
$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const key = form.api_key.value.trim();
  const secret = form.api_secret.value;
  form.api_secret.value = "";
  $("signin-error").textContent = "";
  const apiKey = `ApiKey ${key}:${secret}`;
  try {
    const resp = await fetch("/api/auth/client-token/", { method: "POST", headers: { Authorization: apiKey } });
    if (resp.ok) {
      const tok = await resp.json();
      const access = tok.access_token || tok.access || tok.token;
      state.auth = `Bearer ${access}`;
    } else if (resp.status === 404) {
      state.auth = apiKey; // server without JWT support: kept in memory for this tab only
    } else {
      const data = await resp.json().catch(() => ({}));
      throw new Error((data.error && data.error.message) || "Sign-in failed");
    }
    $("signin").hidden = true;
    $("setup").hidden = false;
    setConn("signed in", "idle");
  } catch (e) {
    $("signin-error").textContent = e.message;
  }
});

function syncModeFields() {
  const mode = document.querySelector("input[name=mode]:checked").value;
  $("user-row").hidden = mode === "identification";
}
document.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", syncModeFields));
syncModeFields();

// --- session: camera, peer connection, offer/answer ----------------------------------------
$("session-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  $("session-error").textContent = "";
  const mode = form.mode.value;
  const body = { session_type: "webrtc", mode, require_liveness: form.require_liveness.checked };
  if (mode !== "identification") body.user_id = form.user_id.value.trim();
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    $("video").srcObject = state.stream;
    state.session = await api("/api/streaming/sessions/", { method: "POST", body });
    await connect(state.session);
    $("setup").hidden = true;
    $("live").hidden = false;
    $("ring-wrap").hidden = mode !== "enrollment";
  } catch (e) {
    $("session-error").textContent = e.message;
    stop();
  }
});

async function connect(session) {
  const pc = new RTCPeerConnection({ iceServers: session.ice_servers || [] });
  state.pc = pc;
  const channel = pc.createDataChannel("events");
  channel.onmessage = (msg) => onEvent(JSON.parse(msg.data));
  channel.onopen = () => setConn("live", "live");
  for (const track of state.stream.getVideoTracks()) pc.addTrack(track, state.stream);
  pc.onconnectionstatechange = () => {
    const s = pc.connectionState;
    if (s === "connected") setConn("live", "live");
    else if (s === "connecting" || s === "new") setConn("connecting…", "warn");
    else if (s === "failed" || s === "closed" || s === "disconnected") setConn(s, "bad");
  };
  setConn("connecting…", "warn");
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  const answer = await api(session.signaling_url ? new URL(session.signaling_url).pathname : "/api/streaming/webrtc/offer/", {
    method: "POST",
    body: { session_token: session.session_token, sdp: pc.localDescription.sdp, type: "offer" },
  });
  await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
}

function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000); // host candidates are enough on a LAN; do not hang on STUN
  });
}

function stop() {
  if (state.session && state.auth) {
    api(`/api/streaming/sessions/${state.session.session_id}/close/`, { method: "POST" }).catch(() => {});
  }
  if (state.pc) state.pc.close();
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.pc = state.stream = state.session = null;
  $("live").hidden = true;
  $("setup").hidden = !state.auth;
  setConn(state.auth ? "signed in" : "not connected", "idle");
}
$("stop").addEventListener("click", stop);

// --- events --------------------------------------------------------------------------------
window.facestreamEvents = []; // inspected by the browser test
function onEvent(ev) {
  window.facestreamEvents.push(ev.type);
  const p = ev.payload || {};
  switch (ev.type) {
    case "faces": drawFaces(p); break;
    case "liveness_update": showLiveness(p); break;
    case "recognition_result": showResult(p); break;
    case "enrollment_progress": showProgress(p); break;
    case "session_status": showStatus(p); break;
  }
}

function drawFaces(p) {
  const video = $("video");
  const canvas = $("overlay");
  const rect = canvas.getBoundingClientRect();
  canvas.width = rect.width * devicePixelRatio;
  canvas.height = rect.height * devicePixelRatio;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const fw = p.frame_width || video.videoWidth, fh = p.frame_height || video.videoHeight;
  if (!fw || !fh) return;
  // The video is drawn with object-fit: contain; map frame pixels onto the same box.
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
    const tag = `#${f.track_id}${name ? " " + name : ""}${f.quality != null ? ` · q ${Number(f.quality).toFixed(2)}` : ""}`;
    const tw = ctx.measureText(tag).width + 10 * devicePixelRatio;
    ctx.fillStyle = colour;
    ctx.fillRect(ox + x1 * scale, oy + y1 * scale - 22 * devicePixelRatio, tw, 22 * devicePixelRatio);
    ctx.fillStyle = "#04101d";
    ctx.fillText(tag, ox + x1 * scale + 5 * devicePixelRatio, oy + y1 * scale - 6 * devicePixelRatio);
  }
}

function showLiveness(p) {
  $("liveness").textContent = p.passed ? `passed (${Number(p.liveness_score).toFixed(2)})` : Number(p.liveness_score || 0).toFixed(2);
  $("blinks").textContent = p.blink_count ?? 0;
  const prompt = $("prompt");
  const challenge = p.passed ? null : p.challenge;
  prompt.hidden = !challenge;
  if (challenge) prompt.textContent = PROMPTS[challenge] || challenge.replace(/^please_/, "").replace(/_/g, " ");
}

function showResult(p) {
  const el = $("result");
  el.hidden = false;
  el.className = `result ${p.status}`;
  if (p.name && p.track_id != null) state.names.set(p.track_id, p.name);
  const who = p.name || p.user_id || "unknown person";
  el.textContent = p.status === "success"
    ? `Recognised: ${who} (confidence ${Number(p.confidence).toFixed(2)})`
    : p.status === "failure" ? `Not recognised${p.user_id ? ` as ${p.user_id}` : ""}` : "Unknown face";
}

function showProgress(p) {
  const pct = p.target_samples ? Math.min(1, p.completed_samples / p.target_samples) : 0;
  $("ring-fg").style.strokeDashoffset = String(326.7 * (1 - pct));
  $("ring-text").textContent = `${Math.round(pct * 100)}%`;
  $("ring-feedback").textContent = (p.feedback && p.feedback.message) || "";
}

function showStatus(p) {
  $("frames").textContent = p.frame_count ?? 0;
  if (p.processed_fps != null) $("fps").textContent = Number(p.processed_fps).toFixed(1);
  if (["closed", "expired", "completed", "failed"].includes(p.status)) setConn(p.status, p.status === "completed" ? "live" : "bad");
}
