// Facestream people page (administrators): list, search, create, rename, activate/deactivate,
// delete with confirmation, export, and enroll a person's face from photos or the camera.
// Everything goes through the public API via the SDK module.

import { Facestream, cameraAvailable } from "./sdk/facestream.js";
import { explain, promptText } from "./messages.js";

const $ = (id) => document.getElementById(id);
const fs = new Facestream();
const page = { users: [], search: "", enrollFor: null, editing: null, deleting: null, session: null, stream: null };
window.facestreamPeople = page; // inspected by the browser tests

function say(text) { $("status").textContent = text; $("people-error").textContent = ""; }
function fail(text) { $("people-error").textContent = text; $("status").textContent = ""; }
const label = (u) => u.name || u.external_id;

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
    if (fs.scope === "kiosk") {
      fs.signOut("This is a kiosk key: the people page needs an admin key."); // shown by the auth listener
      return;
    }
    $("signin").hidden = true;
    $("people").hidden = false;
    $("signout").hidden = false;
    $("conn").textContent = "signed in";
    await refresh();
  } catch (e) {
    $("signin-error").textContent = e.status === 401 || e.status === 403 ? "The API key or secret is not right." : explain(e);
  }
});

$("signout").addEventListener("click", () => fs.signOut());
fs.addEventListener("auth", (ev) => {
  if (ev.detail.state !== "signed-out") return;
  $("signin").hidden = false;
  $("people").hidden = true;
  $("signout").hidden = true;
  $("conn").textContent = "not signed in";
  if (ev.detail.reason && ev.detail.reason !== "signed out") $("signin-error").textContent = ev.detail.reason;
});

// -- list -------------------------------------------------------------------------------------
async function refresh() {
  try {
    const data = await fs.listUsers({ search: page.search, pageSize: 100 });
    page.users = data.results;
    render();
  } catch (e) {
    fail(explain(e));
  }
}

function when(iso) {
  if (!iso) return "never";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function button(text, action, user, cls = "quiet") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.dataset.action = action;
  b.setAttribute("aria-label", `${text}: ${label(user)}`);
  b.addEventListener("click", () => act(action, user));
  return b;
}

function render() {
  const rows = $("rows");
  rows.replaceChildren();
  $("empty").hidden = page.users.length > 0;
  for (const u of page.users) {
    const tr = document.createElement("tr");
    tr.dataset.userId = u.id;
    tr.dataset.externalId = u.external_id;
    const cells = [
      ["Name", u.name],
      ["ID", u.external_id],
      ["Face enrollments", u.enrollments_count ? `${u.enrollments_count}` : "none"],
      ["Last authentication", when(u.last_authentication)],
    ];
    for (const [head, text] of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      td.dataset.label = head; // shown before the value where the table stacks (phones)
      tr.append(td);
    }
    const active = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = `badge ${u.is_active ? "on" : "off"}`;
    badge.textContent = u.is_active ? "active" : "deactivated";
    active.append(badge);
    tr.append(active);
    const actions = document.createElement("td");
    actions.className = "actions";
    actions.append(
      button("Add photos", "photos", u, ""),
      button("Use camera", "camera", u),
      button("Rename", "rename", u),
      button(u.is_active ? "Deactivate" : "Activate", u.is_active ? "deactivate" : "activate", u),
      button("Export", "export", u),
      button("Delete", "delete", u, "danger"),
    );
    tr.append(actions);
    rows.append(tr);
  }
}

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  page.search = $("search").value.trim();
  refresh();
});
let typing;
$("search").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => { page.search = $("search").value.trim(); refresh(); }, 300);
});

// -- actions ----------------------------------------------------------------------------------
async function act(action, user) {
  try {
    switch (action) {
      case "photos":
        page.enrollFor = user;
        $("photo-input").value = "";
        $("photo-input").click();
        return;
      case "camera": return openCamera(user);
      case "rename": return openEdit(user);
      case "delete": return openDelete(user);
      case "activate":
        await fs.activateUser(user.id);
        say(`${label(user)} is active again.`);
        break;
      case "deactivate":
        await fs.deactivateUser(user.id);
        say(`${label(user)} is deactivated: they are refused until activated again.`);
        break;
      case "export": {
        const data = await fs.exportUser(user.id);
        const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
        const a = document.createElement("a");
        a.href = url;
        a.download = `person-${user.external_id}.json`;
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        say(`Exported ${label(user)} (${data.enrollments.length} face enrollment${data.enrollments.length === 1 ? "" : "s"}).`);
        return;
      }
    }
    await refresh();
  } catch (e) {
    fail(explain(e));
  }
}

$("photo-input").addEventListener("change", async (ev) => {
  const user = page.enrollFor;
  const files = [...ev.target.files];
  if (!user || !files.length) return;
  const lines = [];
  for (const file of files) {
    try {
      await fs.enrollPhoto(user.id, file);
      lines.push(`${file.name}: saved.`);
    } catch (e) {
      let why = explain(e);
      if (e.code === "FACE_ALREADY_ENROLLED") {
        const other = e.details && e.details.existing_user_id;
        const owner = other ? await fs.getUser(other).catch(() => null) : null;
        why = `not added: this face is already enrolled to ${owner ? `${label(owner)} (${owner.external_id})` : "another person"}.`;
      }
      lines.push(`${file.name}: ${why}`);
    }
  }
  const added = lines.filter((l) => l.endsWith(": saved.")).length;
  await refresh();
  const now = page.users.find((u) => u.id === user.id);
  const count = now ? now.enrollments_count : 0;
  const text = `${label(user)}: ${added} of ${files.length} photo${files.length === 1 ? "" : "s"} saved. ${lines.join(" ")} ` +
    `${label(user)} now has ${count} face enrollment${count === 1 ? "" : "s"}.`;
  if (added === files.length) say(text); else fail(text);
});

// -- create / rename --------------------------------------------------------------------------
function openEdit(user) {
  page.editing = user || null;
  const form = $("edit-form");
  form.reset();
  $("edit-error").textContent = "";
  $("edit-title").textContent = user ? `Rename ${label(user)}` : "Add a person";
  $("external-row").hidden = Boolean(user);
  $("email-row").hidden = Boolean(user);
  form.external_id.required = !user;
  if (user) form.name.value = user.name;
  $("edit-dialog").showModal();
}
$("add").addEventListener("click", () => openEdit(null));
$("edit-cancel").addEventListener("click", () => $("edit-dialog").close());
$("edit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const name = form.name.value.trim();
  $("edit-error").textContent = "";
  if (!name || (!page.editing && !form.external_id.value.trim())) {
    $("edit-error").textContent = page.editing ? "Please enter a name." : "Please enter an ID and a name.";
    return;
  }
  try {
    if (page.editing) {
      await fs.updateUser(page.editing.id, { name });
      say(`Renamed to ${name}.`);
    } else {
      const fields = { external_id: form.external_id.value.trim(), name };
      if (form.email.value.trim()) fields.email = form.email.value.trim();
      await fs.createUser(fields);
      say(`${name} was added. Add photos or use the camera to enroll their face.`);
    }
    $("edit-dialog").close();
    await refresh();
  } catch (e) {
    $("edit-error").textContent = e.code === "VALIDATION_ERROR" && e.details && e.details.email
      ? "That email address is not valid." : explain(e);
  }
});

// -- delete -----------------------------------------------------------------------------------
function openDelete(user) {
  page.deleting = user;
  $("delete-title").textContent = `Delete ${label(user)}?`;
  $("delete-text").textContent = `${label(user)} (${user.external_id}) and all their face data will be deleted. This cannot be undone.`;
  $("delete-dialog").showModal();
}
$("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
$("delete-confirm").addEventListener("click", async () => {
  const user = page.deleting;
  $("delete-dialog").close();
  try {
    const out = await fs.deleteUser(user.id);
    say(`${label(user)} was deleted with ${out.embeddings_deleted} face enrollment${out.embeddings_deleted === 1 ? "" : "s"}.`);
    await refresh();
  } catch (e) {
    fail(explain(e));
  }
});

// -- enroll from the camera -------------------------------------------------------------------
async function openCamera(user) {
  const status = $("camera-status");
  $("camera-title").textContent = `Enroll ${label(user)} from the camera`;
  $("camera-prompt").hidden = true;
  $("camera-dialog").showModal();
  if (!cameraAvailable()) {
    status.textContent = "The camera needs a secure connection: open this page over https (see the README, “HTTPS for phones and LAN PCs”).";
    return;
  }
  status.textContent = "Starting the camera…";
  try {
    page.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    $("camera-video").srcObject = page.stream;
    const session = await fs.startSession(page.stream, { mode: "enrollment", userId: user.id });
    page.session = session;
    status.textContent = "Look at the camera.";
    session.addEventListener("enrollment_progress", (e) => {
      const p = e.detail;
      const pct = p.target_samples ? Math.round(100 * Math.min(1, p.completed_samples / p.target_samples)) : 0;
      status.textContent = `${Math.min(pct, p.liveness_verified ? 100 : 90)}% · ${(p.feedback && p.feedback.message) || "Look at the camera."}`;
    });
    session.addEventListener("liveness_update", (e) => {
      const text = e.detail.passed ? "" : promptText(e.detail);
      $("camera-prompt").hidden = !text;
      $("camera-prompt").textContent = text;
    });
    session.addEventListener("error", (e) => {
      status.textContent = e.detail.code === "FACE_ALREADY_ENROLLED"
        ? "Not enrolled: this face is already enrolled to another person." : explain({ code: e.detail.code });
    });
    session.addEventListener("session_status", (e) => {
      const s = e.detail.status;
      if (s === "completed") { status.textContent = `${label(user)} is enrolled.`; stopCamera(); refresh(); }
      else if (["failed", "expired", "closed"].includes(s)) {
        if (!/^Not enrolled/.test(status.textContent)) status.textContent = "The enrollment did not finish. Nothing was saved.";
        stopCamera();
      }
    });
    session.addEventListener("connection", (e) => {
      if (e.detail.state === "lost") { status.textContent = "The connection to the server was lost."; stopCamera(); }
    });
  } catch (e) {
    status.textContent = explain(e);
    stopCamera();
  }
}

function stopCamera() {
  if (page.session) page.session.close();
  if (page.stream) page.stream.getTracks().forEach((t) => t.stop());
  page.session = page.stream = null;
  $("camera-video").srcObject = null;
  $("camera-prompt").hidden = true;
}
$("camera-close").addEventListener("click", () => { stopCamera(); $("camera-dialog").close(); });
$("camera-dialog").addEventListener("close", stopCamera);
