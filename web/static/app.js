// Facestream kiosk page: enroll, check an ID (1:1) or recognise (1:N) the person in front of the
// camera. One session = one clean screen; every verdict carries its reason in plain words; a
// finished session stops the camera, shows who was enrolled or recognised, and resets for the
// next person. Everything goes through the SDK module (REST + WebRTC + events channel).

import { Facestream, cameraAvailable } from "./sdk/facestream.js";
import { CHALLENGE_FAILED, explain, promptText, verdict } from "./messages.js";

const $ = (id) => document.getElementById(id);
const cfg = document.body.dataset;
const RESET_S = Number(cfg.resetS) || 6;
const CHALLENGE_TIMEOUT_S = Number(cfg.challengeTimeoutS) || 10;
// "Recognise me" answers one person and ends, like "Check my ID". `/?continuous=1` keeps it
// recognising whoever comes next until Done (a lobby display).
const CONTINUOUS = new URLSearchParams(location.search).get("continuous") === "1";
const RESULT_HOLD_MS = 1500; // the verdict stays on the live screen this long before the final screen
const SESSION_TIMEOUT_S = Number(cfg.sessionTimeoutS) || 45;
const FACES_STALE_MS = 1000; // no `faces` event for this long: the boxes on screen are not current

const fs = new Facestream({ keepCredentials: true });
const kiosk = {
  session: null, stream: null, mode: null, claimed: null, ended: false,
  names: new Map(), faces: [], facesAt: 0, frame: [0, 0], outcome: null, resultTrack: null, recognised: new Set(),
  challenge: null, challengeSeenAt: 0, timers: [], livenessFailed: false,
};
window.facestreamEvents = []; // event types seen in this session (inspected by the browser tests)
window.facestreamKiosk = kiosk;
window.facestreamAuthLog = []; // sign-in, refresh and sign-out as they happen (inspected by the browser tests)
fs.addEventListener("auth", (ev) => window.facestreamAuthLog.push(ev.detail.state));

// -- screens ----------------------------------------------------------------------------------
function show(screen) {
  for (const id of ["signin", "setup", "live", "done"]) $(id).hidden = id !== screen;
}

function setConn(text, cls) {
  const el = $("conn");
  el.textContent = text;
  el.className = `pill ${cls}`;
}

/** Everything a session drew or said, gone: the next session starts on a clean screen. */
function cleanScreen() {
  kiosk.names.clear();
  kiosk.faces = [];
  kiosk.facesAt = 0;
  kiosk.outcome = null;
  kiosk.resultTrack = null;
  kiosk.recognised = new Set();
  kiosk.challenge = null;
  kiosk.livenessFailed = false;
  kiosk.ended = false;
  window.facestreamEvents = [];
  for (const t of kiosk.timers) clearInterval(t), clearTimeout(t);
  kiosk.timers = [];
  $("result").hidden = true;
  $("result").className = "result";
  $("result-title").textContent = $("result-detail").textContent = "";
  $("prompt").hidden = true;
  $("liveness").textContent = "checking…";
  $("blinks").textContent = "0";
  $("guide").textContent = "Place your face inside the oval.";
  $("stage-desc").textContent = "Camera preview, mirrored. No face in view yet.";
  setRing(0, "");
  clearOverlay();
}

// -- secure context ---------------------------------------------------------------------------
if (!cameraAvailable()) {
  $("insecure").hidden = false;
  $("secure-url").textContent = `https://${location.hostname}${location.port ? ":" + location.port : ""}${location.pathname}`;
}

// -- sign in ----------------------------------------------------------------------------------
$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const key = form.api_key.value.trim();
  const secret = form.api_secret.value;
  form.api_secret.value = "";
  $("signin-error").textContent = "";
  try {
    await fs.signIn(key, secret);
    applyScope();
    show("setup");
    setConn("signed in", "idle");
    $("signout").hidden = false;
    listCameras();
  } catch (e) {
    $("signin-error").textContent = e.status === 401 || e.status === 403 ? "The API key or secret is not right." : explain(e);
  }
});

$("signout").addEventListener("click", () => {
  endSession("cancelled");
  fs.signOut();
});

fs.addEventListener("auth", (ev) => {
  const { state, reason } = ev.detail;
  if (state === "signed-out") {
    endSession("cancelled");
    show("signin");
    $("signout").hidden = true;
    setConn("not signed in", "idle");
    if (reason && reason !== "signed out") $("signin-error").textContent = reason;
  }
});

// -- setup ------------------------------------------------------------------------------------
$("liveness-row").hidden = cfg.allowLivenessToggle !== "true";

function syncModeFields() {
  const mode = document.querySelector("input[name=mode]:checked").value;
  $("user-row").hidden = mode === "identification";
  $("name-row").hidden = mode !== "enrollment";
}
document.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", syncModeFields));
syncModeFields();

/** A kiosk key (issue 25) never looks people up: the server resolves the typed ID itself, and
 * enrollment is offered only where pages.kiosk_enrollment allows it (new IDs only). */
function applyScope() {
  const kioskKey = fs.scope === "kiosk";
  const enroll = $("enroll-option");
  enroll.hidden = kioskKey && cfg.kioskEnrollment !== "true";
  if (enroll.hidden && enroll.querySelector("input").checked) {
    document.querySelector("input[name=mode][value=identification]").checked = true;
    syncModeFields();
  }
}

async function listCameras() {
  if (!cameraAvailable() || !navigator.mediaDevices.enumerateDevices) return;
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const select = $("camera");
  const chosen = select.value;
  select.replaceChildren(new Option("Default camera", ""));
  devices.forEach((d, i) => select.add(new Option(d.label || `Camera ${i + 1}`, d.deviceId)));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  $("camera-row").hidden = devices.length < 2;
}

$("session-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const error = $("session-error");
  error.textContent = "";
  if (!cameraAvailable()) {
    error.textContent = "The camera cannot be used on this connection: open the page over https (see above).";
    return;
  }
  const mode = form.mode.value;
  const ref = form.user_id.value.trim();
  if (mode !== "identification" && !ref) {
    error.textContent = "Please enter the person's employee or user ID.";
    form.user_id.focus();
    return;
  }
  $("start").disabled = true;
  try {
    let claimed = null;
    if (mode !== "identification" && fs.scope === "kiosk") {
      // the server checks the ID (a kiosk lists nobody); a kiosk enrollment names a new ID, which
      // its enrollment creates and a failed or refused one leaves behind nobody
      claimed = mode === "enrollment"
        ? { external_id: ref, name: form.name.value.trim() || ref, isNew: true }
        : { id: ref, external_id: ref, name: "" };
    } else if (mode !== "identification") {
      claimed = await fs.resolveUser(ref);
      // A new ID is not created here: the enrollment creates it and a failed or refused one leaves
      // nobody behind (the server removes a user its enrollment created when it does not complete).
      if (!claimed && mode === "enrollment") claimed = { external_id: ref, name: form.name.value.trim() || ref, isNew: true };
      if (!claimed) throw Object.assign(new Error(), { code: "USER_NOT_FOUND" });
    }
    const camera = form.camera.value;
    const stream = await navigator.mediaDevices.getUserMedia({
      video: camera ? { deviceId: { exact: camera }, width: 640, height: 480 } : { width: 640, height: 480 },
      audio: false,
    });
    await startSession(stream, mode, claimed, form.require_liveness.checked || cfg.allowLivenessToggle !== "true");
    listCameras(); // labels are known once the camera was allowed
  } catch (e) {
    error.textContent = explain(e);
    endSession("cancelled");
    show("setup");
  } finally {
    $("start").disabled = false;
  }
});

async function startSession(stream, mode, claimed, requireLiveness) {
  cleanScreen();
  kiosk.stream = stream;
  kiosk.mode = mode;
  kiosk.claimed = claimed;
  $("video").srcObject = stream;
  $("ring-wrap").hidden = mode !== "enrollment";
  $("finish").textContent = mode === "enrollment" ? "Finish" : "Done";
  show("live");
  setConn("connecting…", "warn");
  const options = { mode, requireLiveness, timeout: SESSION_TIMEOUT_S };
  if (claimed) options.userId = claimed.isNew ? claimed.external_id : claimed.id;
  if (claimed && claimed.isNew) options.name = claimed.name;
  const session = await fs.startSession(stream, options);
  kiosk.session = session;
  session.addEventListener("event", (e) => window.facestreamEvents.push(e.detail.type));
  session.addEventListener("faces", (e) => onFaces(e.detail));
  session.addEventListener("liveness_update", (e) => onLiveness(e.detail));
  session.addEventListener("recognition_result", (e) => onResult(e.detail));
  session.addEventListener("enrollment_progress", (e) => onProgress(e.detail));
  session.addEventListener("session_status", (e) => onStatus(e.detail));
  session.addEventListener("error", (e) => onServerError(e.detail));
  session.addEventListener("connection", (e) => onConnection(e.detail));
  if (session.state === "live") setConn("live", "live");
  kiosk.timers.push(setInterval(tick, 250));
}

// -- ending -----------------------------------------------------------------------------------
/** Stop the camera and the session; the screen keeps nothing from it. */
function endSession() {
  kiosk.ended = true;
  const session = kiosk.session;
  kiosk.session = null;
  if (session) session.close();
  if (kiosk.stream) kiosk.stream.getTracks().forEach((t) => t.stop());
  kiosk.stream = null;
  $("video").srcObject = null;
  for (const t of kiosk.timers) clearInterval(t), clearTimeout(t);
  kiosk.timers = [];
  clearOverlay();
  if (fs.signedIn) setConn("signed in", "idle");
}

/** Finish: camera off, the outcome on its own screen, then back to the start for the next person. */
function finish(outcome) {
  if (kiosk.ended) return;
  endSession();
  const o = outcome || summary();
  $("done-box").className = `result big ${o.tone}`;
  $("done-title").textContent = o.title;
  $("done-detail").textContent = o.detail || "";
  show("done");
  let left = Math.round(RESET_S);
  const say = () => { $("done-reset").textContent = `Ready for the next person in ${left} s.`; };
  say();
  const timer = setInterval(() => {
    left -= 1;
    if (left <= 0) return nextPerson();
    say();
  }, 1000);
  kiosk.timers.push(timer);
}

const NOTHING_SAVED = "Nothing was saved.";

/** A failed or unfinished enrollment says why, and that nothing was saved. */
function enrollmentFailed(timedOut) {
  if (kiosk.livenessFailed) return { tone: "failure", title: CHALLENGE_FAILED.title, detail: `${NOTHING_SAVED} ${CHALLENGE_FAILED.detail}` };
  if (timedOut) return { tone: "unknown", title: "Time is up", detail: `${NOTHING_SAVED} Please try again.` };
  return { tone: "unknown", title: "Enrollment not finished", detail: NOTHING_SAVED };
}

function summary() {
  if (kiosk.mode === "enrollment" && !kiosk.outcome) return enrollmentFailed(false);
  // Only who is in front at the end: someone recognised earlier who has left is not named.
  const names = [...new Set(kiosk.faces.map((f) => kiosk.names.get(f.track_id)).filter(Boolean))];
  if (names.length) return { tone: "success", title: `Recognised: ${names.join(", ")}`, detail: "" };
  if (kiosk.outcome && kiosk.mode === "identification" && kiosk.outcome.tone === "success") {
    return { tone: "unknown", title: "Nobody in view", detail: "The person recognised earlier has left." };
  }
  if (kiosk.outcome) return kiosk.outcome;
  return { tone: "unknown", title: "Nobody was recognised", detail: "" };
}

/** Every visitor starts in the default mode ("Recognise me"): an enrollment never carries over. */
function defaultMode() {
  $("session-form").querySelector("input[name=mode][value=identification]").checked = true;
  syncModeFields();
}

function nextPerson() {
  for (const t of kiosk.timers) clearInterval(t), clearTimeout(t);
  kiosk.timers = [];
  cleanScreen();
  const form = $("session-form");
  form.user_id.value = "";
  form.name.value = "";
  defaultMode();
  show(fs.signedIn ? "setup" : "signin");
}

$("finish").addEventListener("click", () => finish());
$("stop").addEventListener("click", () => {
  const enrolling = kiosk.mode === "enrollment";
  endSession();
  cleanScreen();
  if (enrolling) defaultMode(); // a stopped enrollment attempt is over too
  show("setup");
});
$("next").addEventListener("click", nextPerson);

// -- events -----------------------------------------------------------------------------------
function onFaces(p) {
  for (const tid of p.left || []) {
    kiosk.names.delete(tid);
    if (tid === kiosk.resultTrack && kiosk.mode === "identification") {
      kiosk.resultTrack = null; // the person this verdict was about has gone: no stale verdict
      $("result").hidden = true;
    }
  }
  kiosk.faces = p.faces || [];
  kiosk.facesAt = performance.now();
  kiosk.frame = [p.frame_width || 0, p.frame_height || 0];
  drawFaces();
  const n = kiosk.faces.length;
  const who = kiosk.faces.map((f) => kiosk.names.get(f.track_id)).filter(Boolean);
  $("stage-desc").textContent = n === 0
    ? "Camera preview, mirrored. No face in view."
    : `Camera preview, mirrored. ${n === 1 ? "One face" : `${n} faces`} in view${who.length ? `: ${who.join(", ")}` : ""}.`;
  if (n === 0) $("guide").textContent = "Place your face inside the oval.";
  else if (n > 1) $("guide").textContent = "Only one person in front of the camera, please.";
  else if (kiosk.livenessFailed) $("guide").textContent = CHALLENGE_FAILED.title;
  else if (!kiosk.challenge) $("guide").textContent = "Hold still and look at the camera.";
}

function onLiveness(p) {
  $("blinks").textContent = String(p.blink_count ?? 0);
  $("liveness").textContent = p.passed ? "confirmed" : "checking…";
  const text = p.passed || p.challenge_sequence_failed ? "" : promptText(p);
  const key = text ? `${text}|${p.challenge_expires_at ?? ""}` : null;
  if (p.challenge_sequence_failed && !p.passed && !kiosk.livenessFailed) {
    kiosk.livenessFailed = true;
    $("guide").textContent = CHALLENGE_FAILED.title;
    // An enrollment cannot be live any more: say so now rather than at the session's timeout.
    if (kiosk.mode === "enrollment" && !kiosk.ended) kiosk.timers.push(setTimeout(() => finish(enrollmentFailed(false)), RESULT_HOLD_MS));
  }
  if (key !== (kiosk.challenge && kiosk.challenge.key)) {
    kiosk.challenge = key ? { key, text, seenAt: performance.now() } : null;
  }
  if (kiosk.challenge) {
    const remaining = p.challenge_remaining_s ?? p.challenge_seconds_left ?? p.challenge_time_left_s;
    if (remaining != null) kiosk.challenge.deadline = performance.now() + Number(remaining) * 1000;
  }
  renderPrompt();
}

function renderPrompt() {
  const ch = kiosk.challenge;
  $("prompt").hidden = !ch;
  if (!ch) return;
  if ($("prompt-text").textContent !== ch.text) {
    $("prompt-text").textContent = ch.text;
    $("guide").textContent = ch.text;
  }
  const deadline = ch.deadline ?? ch.seenAt + CHALLENGE_TIMEOUT_S * 1000;
  const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
  $("prompt-countdown").textContent = `${left} s`;
}

function onResult(p) {
  if (kiosk.ended) return;
  const v = verdict(p, { mode: kiosk.mode, claimed: kiosk.claimed });
  if (p.status === "success" && p.track_id != null) {
    const name = p.name || (kiosk.claimed && kiosk.claimed.name) || "";
    kiosk.names.set(p.track_id, name);
    kiosk.recognised.add(name);
  }
  showResult(v);
  kiosk.resultTrack = p.track_id;
  drawFaces();
  kiosk.outcome = v;
  // A 1:1 check and "Recognise me" answer once: show it, then finish on that answer. A continuous
  // display keeps going for whoever comes next until Done (each verdict is cleared when its face leaves).
  if (kiosk.mode === "verification" || (kiosk.mode === "identification" && !CONTINUOUS)) {
    kiosk.timers.push(setTimeout(() => finish(v), RESULT_HOLD_MS));
  }
}

function showResult(v) {
  const el = $("result");
  el.hidden = false;
  el.className = `result ${v.tone}`;
  $("result-title").textContent = v.title;
  $("result-detail").textContent = v.detail ? ` ${v.detail}` : "";
}

function setRing(pct, text) {
  $("ring-fg").style.strokeDashoffset = String(326.7 * (1 - pct));
  $("ring-text").textContent = `${Math.round(pct * 100)}%`;
  if (text) $("guide").textContent = text;
}

function onProgress(p) {
  const samples = p.target_samples ? Math.min(1, p.completed_samples / p.target_samples) : 0;
  const complete = (p.feedback && p.feedback.message) === "Enrollment complete";
  // Samples are not the whole enrollment: while liveness is still owed the ring stops short of 100 %.
  const pct = complete ? 1 : p.liveness_verified ? samples : Math.min(samples, 0.9);
  // The server's message carries the active prompt; the page's own prompt text wins while one is shown.
  let text = (p.feedback && p.feedback.message) || "";
  if (!complete && !p.liveness_verified && kiosk.challenge) text = kiosk.challenge.text;
  if (!complete && !p.liveness_verified && kiosk.livenessFailed) text = CHALLENGE_FAILED.title;
  setRing(pct, text);
}

function onStatus(p) {
  if (kiosk.ended || p.close_reason === "server_shutdown") return;
  if (p.status === "completed" && kiosk.mode === "enrollment") {
    const who = kiosk.claimed ? kiosk.claimed.name || kiosk.claimed.external_id : "the person";
    finish({ tone: "success", title: `Enrolled: ${who}`, detail: "Their face is now saved." });
  } else if (["closed", "expired", "completed", "failed"].includes(p.status)) {
    const timedOut = p.status === "expired" || p.close_reason === "expired";
    const nothing = !kiosk.outcome && !kiosk.recognised.size;
    const o = kiosk.mode === "enrollment" && !kiosk.outcome ? enrollmentFailed(timedOut)
      : nothing && timedOut ? { tone: "unknown", title: "Time is up", detail: "No decision could be made. Please try again." } : summary();
    kiosk.timers.push(setTimeout(() => finish(o), kiosk.outcome && kiosk.mode !== "enrollment" ? RESULT_HOLD_MS : 0));
  }
}

function onServerError(p) {
  if (kiosk.ended) return;
  const v = { tone: "failure", title: explain({ code: p.code }), detail: "" };
  if (p.code === "FACE_ALREADY_ENROLLED") Object.assign(v, { title: "Not enrolled", detail: "This face is already enrolled to another person." });
  if (p.code === "FACE_MISMATCH") Object.assign(v, { title: "Not enrolled", detail: "This ID belongs to someone else's face; ask staff." });
  kiosk.outcome = v;
  showResult(v);
}

function onConnection({ state }) {
  if (kiosk.ended) return;
  if (state === "live") setConn("live", "live");
  else if (state === "connecting") setConn("connecting…", "warn");
  else if (state === "closed") kiosk.timers.push(setTimeout(() => finish(), 1600)); // onStatus normally finishes first
  else if (state === "lost") {
    finish({ tone: "failure", title: "Connection lost", detail: "The connection to the server was lost. Press Start to try again." });
    setConn("connection lost", "bad"); // until the next Start succeeds
  }
}

// -- overlay ----------------------------------------------------------------------------------
function tick() {
  if (kiosk.facesAt && performance.now() - kiosk.facesAt > FACES_STALE_MS) {
    kiosk.faces = []; // nothing current from the server: no box may stay on screen
    kiosk.facesAt = 0;
    drawFaces();
  }
  if (kiosk.challenge) renderPrompt();
}

function clearOverlay() {
  const canvas = $("overlay");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

function drawFaces() {
  const canvas = $("overlay");
  const rect = canvas.getBoundingClientRect();
  const dpr = devicePixelRatio || 1;
  canvas.width = rect.width * dpr;
  canvas.height = rect.height * dpr;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const video = $("video");
  const fw = kiosk.frame[0] || video.videoWidth, fh = kiosk.frame[1] || video.videoHeight;
  if (!fw || !fh) return;
  // The video is drawn mirrored with object-fit: contain; map frame pixels onto the same box.
  const scale = Math.min(canvas.width / fw, canvas.height / fh);
  const ox = (canvas.width - fw * scale) / 2, oy = (canvas.height - fh * scale) / 2;
  ctx.lineWidth = 3 * dpr;
  ctx.font = `600 ${15 * dpr}px system-ui, sans-serif`;
  for (const f of kiosk.faces) {
    const [x1, y1, x2, y2] = f.box;
    const name = kiosk.names.get(f.track_id) || "";
    const colour = name ? "#2ea043" : "#58a6ff";
    const left = ox + (fw - x2) * scale; // mirrored like the preview
    ctx.strokeStyle = colour;
    ctx.strokeRect(left, oy + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale);
    if (!name) continue;
    const tw = ctx.measureText(name).width + 12 * dpr;
    ctx.fillStyle = colour;
    ctx.fillRect(left, oy + y1 * scale - 24 * dpr, tw, 24 * dpr);
    ctx.fillStyle = "#04101d";
    ctx.fillText(name, left + 6 * dpr, oy + y1 * scale - 7 * dpr);
  }
}
