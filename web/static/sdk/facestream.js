// Facestream browser SDK: one ES module, served by the server at /static/sdk/facestream.js,
// no build step, no dependencies. It wraps the public REST API (sign-in with an API key and
// secret exchanged for JWTs, token refresh, users, photo enrollment) and a live WebRTC session
// (camera up, the server's events back on the `events` data channel).
//
//   import { Facestream } from "/static/sdk/facestream.js";
//   const fs = new Facestream();
//   await fs.signIn(apiKey, apiSecret);
//   const session = await fs.startSession(cameraStream, { mode: "identification" });
//   session.addEventListener("recognition_result", (e) => console.log(e.detail));
//
// Tokens live in memory only (never localStorage). An access token is refreshed before it
// expires; a refused one (expired, or the server restarted with a new signing key) is replaced
// by a refresh, then, when `keepCredentials` is on, by signing in again with the key and secret
// held in this object's memory, so an unattended kiosk recovers by itself.

/** An API error: HTTP status, the server's error code (e.g. "USER_NOT_FOUND") and details. */
export class FacestreamError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = "FacestreamError";
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SIGNED_OUT_CODES = new Set(["TOKEN_EXPIRED", "INVALID_TOKEN", "AUTHENTICATION_REQUIRED", "INVALID_API_KEY", "INVALID_SECRET_KEY"]);

async function errorFrom(resp) {
  const data = await resp.json().catch(() => ({}));
  const err = data.error || {};
  const message = err.message || data.detail || `${resp.status} ${resp.statusText}`;
  return new FacestreamError(resp.status, err.code || `HTTP_${resp.status}`, message, err.details);
}

/** The REST client. Emits "auth" events ({detail: {state: "signed-in" | "refreshed" | "signed-out", reason}}). */
export class Facestream extends EventTarget {
  constructor({ baseUrl = "", keepCredentials = false, fetchImpl } = {}) {
    super();
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.keepCredentials = keepCredentials;
    this._fetch = fetchImpl || window.fetch.bind(window);
    this._access = null;
    this._refresh = null;
    this._expiresAt = 0;
    this._credentials = null;
    this._timer = null;
    this._renewing = null;
  }

  get signedIn() { return this._access !== null; }

  /** Exchange key and secret for an access + refresh JWT pair. */
  async signIn(apiKey, apiSecret) {
    const resp = await this._fetch(`${this.baseUrl}/api/auth/client-token/`, {
      method: "POST", headers: { Authorization: `ApiKey ${apiKey}:${apiSecret}` },
    });
    if (!resp.ok) throw await errorFrom(resp);
    const tokens = await resp.json();
    this._store(tokens);
    // "kiosk" or "admin" (issue 25): a kiosk key runs sessions only; pages adapt to it
    this.scope = tokens.scope || "admin";
    this._credentials = this.keepCredentials ? { apiKey, apiSecret } : null;
    this._emitAuth("signed-in");
  }

  signOut(reason = "signed out") {
    clearTimeout(this._timer);
    this._access = this._refresh = this._credentials = null;
    this._emitAuth("signed-out", reason);
  }

  _store(tokens) {
    this._access = tokens.access_token || tokens.access;
    if (tokens.refresh_token || tokens.refresh) this._refresh = tokens.refresh_token || tokens.refresh;
    const ttl = Number(tokens.expires_in) || 900;
    this._expiresAt = Date.now() + ttl * 1000;
    clearTimeout(this._timer);
    // Renew at 80 % of the lifetime, so a long kiosk session never presents an expired token.
    this._timer = setTimeout(() => this.renew().catch(() => {}), Math.max(1, ttl * 0.8) * 1000);
  }

  _emitAuth(state, reason = "") {
    this.dispatchEvent(new CustomEvent("auth", { detail: { state, reason } }));
  }

  /** A new access token: from the refresh token, else (keepCredentials) by signing in again. */
  renew() {
    if (!this._renewing) {
      this._renewing = this._renew().finally(() => { this._renewing = null; });
    }
    return this._renewing;
  }

  async _renew() {
    if (this._refresh) {
      const resp = await this._fetch(`${this.baseUrl}/api/auth/refresh-token/`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: this._refresh }),
      });
      if (resp.ok) {
        this._store(await resp.json());
        this._emitAuth("refreshed");
        return;
      }
    }
    if (this._credentials) {
      const { apiKey, apiSecret } = this._credentials;
      try {
        await this.signIn(apiKey, apiSecret);
        return;
      } catch (e) {
        this.signOut(e.message);
        throw e;
      }
    }
    this.signOut("Your sign-in has expired");
    throw new FacestreamError(401, "TOKEN_EXPIRED", "Your sign-in has expired");
  }

  /** One API call: JSON in and out (or FormData), one renewal and retry when the token is refused. */
  async request(path, { method = "GET", body, form, raw = false } = {}) {
    if (!this._access) throw new FacestreamError(401, "AUTHENTICATION_REQUIRED", "Not signed in");
    const send = () => {
      const headers = { Authorization: `Bearer ${this._access}` };
      let payload;
      if (form) payload = form;
      else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
      return this._fetch(`${this.baseUrl}${path}`, { method, headers, body: payload });
    };
    let resp = await send();
    if (resp.status === 401) {
      const err = await errorFrom(resp);
      if (!SIGNED_OUT_CODES.has(err.code) && err.code !== "HTTP_401") throw err;
      await this.renew();
      resp = await send();
    }
    if (!resp.ok) throw await errorFrom(resp);
    return raw ? resp : resp.json();
  }

  // -- users (/api/clients/users/) ---------------------------------------------------------
  listUsers({ search = "", page = 1, pageSize = 50, isActive } = {}) {
    const q = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
    if (search) q.set("search", search);
    if (isActive !== undefined) q.set("is_active", String(isActive));
    return this.request(`/api/clients/users/?${q}`);
  }
  getUser(id) { return this.request(`/api/clients/users/${encodeURIComponent(id)}/`); }
  createUser(fields) { return this.request("/api/clients/users/", { method: "POST", body: fields }); }
  updateUser(id, changes) { return this.request(`/api/clients/users/${encodeURIComponent(id)}/`, { method: "PUT", body: changes }); }
  deleteUser(id) { return this.request(`/api/clients/users/${encodeURIComponent(id)}/`, { method: "DELETE" }); }
  activateUser(id) { return this.request(`/api/clients/users/${encodeURIComponent(id)}/activate/`, { method: "POST" }); }
  deactivateUser(id) { return this.request(`/api/clients/users/${encodeURIComponent(id)}/deactivate/`, { method: "POST" }); }
  exportUser(id) { return this.request(`/api/clients/users/${encodeURIComponent(id)}/export/`); }

  /** The user whose external id is exactly `externalId`, or null. */
  async findUserByExternalId(externalId) {
    const page = await this.listUsers({ search: externalId, pageSize: 100 });
    return page.results.find((u) => u.external_id === externalId) || null;
  }

  /**
   * The platform user a person typed at a kiosk (platform id or external id); created with that
   * external id when `create` and none exists, so a page enrollment is a real user.
   */
  async resolveUser(ref, { create = false, name } = {}) {
    const found = await this.findUserByExternalId(ref);
    if (found) return found;
    if (UUID.test(ref)) {
      try {
        return await this.getUser(ref);
      } catch (e) {
        if (e.code !== "USER_NOT_FOUND") throw e;
      }
    }
    if (!create) return null;
    return this.createUser({ external_id: ref, name: name || ref });
  }

  /** Enroll one uploaded photo (no liveness: trusted back-office upload). */
  enrollPhoto(userId, file) {
    const form = new FormData();
    form.set("user_id", userId);
    form.set("image", file, file.name || "photo.jpg");
    return this.request("/api/auth/enrollment/direct/", { method: "POST", form });
  }

  /** Create a streaming session and connect `stream` (a camera MediaStream) to it. */
  async startSession(stream, { mode = "identification", userId, name, replace, requireLiveness, challenges, timeout } = {}) {
    const body = { session_type: "webrtc", mode };
    if (userId) body.user_id = userId;
    if (name) body.name = name; // enrollment: the name of a user it creates
    if (replace) body.replace = true; // enrollment: replace the user's faces (privileged, audited)
    if (requireLiveness !== undefined) body.require_liveness = requireLiveness;
    if (challenges && challenges.length) body.liveness_challenges = challenges;
    if (timeout) body.timeout = timeout;
    const info = await this.request("/api/streaming/sessions/", { method: "POST", body });
    const session = new LiveSession(this, info);
    try {
      await session._connect(stream);
    } catch (e) {
      session.close();
      throw e;
    }
    return session;
  }
}

/**
 * One live WebRTC session. Dispatches each server event as a CustomEvent named by its type
 * (`faces`, `liveness_update`, `recognition_result`, `enrollment_progress`, `session_status`,
 * `error`) with the payload as `detail`, and "connection" events with
 * detail.state = "connecting" | "live" | "lost" | "closed".
 */
export class LiveSession extends EventTarget {
  constructor(client, info) {
    super();
    this.client = client;
    this.info = info;
    this.id = info.session_id;
    this.pc = null;
    this.state = "connecting";
    this._closed = false;
    this._ended = false;
  }

  _setState(state, reason = "") {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("connection", { detail: { state, reason } }));
  }

  async _connect(stream) {
    const pc = new RTCPeerConnection({ iceServers: this.info.ice_servers || [] });
    this.pc = pc;
    const channel = pc.createDataChannel("events");
    channel.onmessage = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch { return; }
      const st = ev.type === "session_status" ? ev.payload || {} : {};
      if (TERMINAL.has(st.status)) {
        // A session the server ended by itself is over; one closed by a server shutdown is a loss.
        if (st.close_reason === "server_shutdown") this._setState("lost", "The server was shut down");
        else this._ended = true;
      }
      this.dispatchEvent(new CustomEvent(ev.type, { detail: ev.payload || {} }));
      this.dispatchEvent(new CustomEvent("event", { detail: ev }));
    };
    channel.onopen = () => this._setState("live");
    const gone = () => {
      if (this._closed) return;
      // A session the server ended (completed, expired...) closes its connection: not a loss.
      if (this._ended) this._setState("closed");
      else this._setState("lost", "The connection to the server was lost");
    };
    channel.onclose = gone;
    for (const track of stream.getVideoTracks()) pc.addTrack(track, stream);
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (this._closed) return;
      if (s === "connected") this._setState("live");
      else if (s === "failed" || s === "disconnected" || s === "closed") gone();
    };
    this._setState("connecting");
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc);
    const url = this.info.signaling_url ? new URL(this.info.signaling_url, location.href).pathname : "/api/streaming/webrtc/offer/";
    const answer = await this.client.request(url, {
      method: "POST", body: { session_token: this.info.session_token, sdp: pc.localDescription.sdp, type: "offer" },
    });
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
  }

  /** Idempotent: closes the peer connection and asks the server to close the session. */
  close() {
    if (this._closed) return;
    this._closed = true;
    if (this.client.signedIn) {
      this.client.request(`/api/streaming/sessions/${this.id}/close/`, { method: "POST" }).catch(() => {});
    }
    if (this.pc) this.pc.close();
    this._setState("closed");
  }
}

const TERMINAL = new Set(["completed", "failed", "expired", "closed"]);

function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000); // host candidates are enough on a LAN; do not hang on STUN
  });
}

/** Whether this page may use the camera at all (getUserMedia needs https or localhost). */
export function cameraAvailable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}
