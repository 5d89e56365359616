// Plain-language texts for the pages: what a person at the screen reads instead of error codes,
// validation strings or browser exception names.

const API_ERRORS = {
  USER_NOT_FOUND: "No person with this ID is known here.",
  USER_INACTIVE: "This person's access is deactivated. Please ask an administrator.",
  USER_NOT_ENROLLED: "This person has no face enrolled yet. Please enroll first.",
  USER_ALREADY_EXISTS: "Someone with this ID already exists.",
  FACE_ALREADY_ENROLLED: "This face is already enrolled to another person, so it was not added.",
  FACE_MISMATCH: "This ID belongs to someone else's face; ask staff.",
  NO_FACE_DETECTED: "No face was found in this photo.",
  FACE_NOT_DETECTED: "No face was found in this photo.",
  MULTIPLE_FACES_DETECTED: "More than one face is in this photo; use a photo of one person.",
  INVALID_FACE_QUALITY: "The face is too blurred, dark, small or turned away to use.",
  INSUFFICIENT_QUALITY: "The face is too blurred, dark, small or turned away to use.",
  LIVENESS_CHECK_FAILED: "The liveness check failed: please use your real face.",
  ACCOUNT_LOCKED: "Too many failed attempts: this person is locked out for a while.",
  SESSION_EXPIRED: "The session timed out. Please start again.",
  RATE_LIMIT_EXCEEDED: "The server is busy. Please try again in a moment.",
  TOKEN_EXPIRED: "Your sign-in has expired. Please sign in again.",
  INVALID_TOKEN: "Your sign-in is no longer valid (the server may have restarted). Please sign in again.",
  INVALID_API_KEY: "The API key or secret is wrong.",
  INVALID_SECRET_KEY: "The API key and secret do not match.",
  INSUFFICIENT_PERMISSIONS: "This account may not do that.",
  ID_NOT_CHECKABLE: "This ID cannot be checked here.",
  IP_NOT_ALLOWED: "This key may not be used from this network.",
  VALIDATION_ERROR: "Some details are missing or not valid. Please check the form.",
};

/** A sentence for any error the pages meet: API errors by code, camera errors by name. */
export function explain(err) {
  if (!err) return "Something went wrong.";
  if (err.code && API_ERRORS[err.code]) return API_ERRORS[err.code];
  switch (err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "The camera was not allowed. Allow camera access for this site in the browser's settings, then try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect a camera or choose another one, then try again.";
    case "NotReadableError":
    case "AbortError":
      return "The camera is busy or unavailable (another app may be using it).";
    case "TypeError":
      return "The server cannot be reached. Check the network connection.";
  }
  if (err.status >= 500) return "The server had a problem. Please try again.";
  if (err.status === 413) return "That file is too large.";
  if (err.status === 415 || err.code === "INVALID_IMAGE") return "That file is not a photo the server can read.";
  return "Something went wrong. Please try again.";
}

/** A failed prompt sequence (`challenge_failed`, `challenge_sequence_failed`): a live person who
 * missed the movements and a photo both land here, so the words say what to do, not who it was. */
export const CHALLENGE_FAILED = {
  title: "Not live: please follow the prompts",
  detail: "The movements asked for on screen were not seen in time. Press Start and follow each prompt as it appears.",
};

/** The verdict of a recognition_result in words. `claimed` is the person a 1:1 check was for. */
export function verdict(p, { mode, claimed } = {}) {
  const name = p.name || (claimed && claimed.name) || "";
  if (p.status === "success") {
    return { tone: "success", title: mode === "verification" ? `Verified: ${name}` : `Recognised: ${name}`, detail: "" };
  }
  // A failure never names the person the face resembled: only the claimed person of a 1:1 check.
  switch (p.reason) {
    case "liveness_failed":
      return { tone: "failure", title: "Not live", detail: "Please use your real face, not a photo or a screen." };
    case "challenge_failed":
      return { tone: "failure", title: CHALLENGE_FAILED.title, detail: CHALLENGE_FAILED.detail };
    case "no_face":
      return { tone: "unknown", title: "No face seen", detail: "Please look at the camera and try again." };
    case "face_mismatch":
    case "low_confidence":
      return mode === "verification" && claimed
        ? { tone: "failure", title: `Not ${claimed.name || claimed.external_id || "this person"}`, detail: "The face does not match this person." }
        : { tone: "unknown", title: "Unknown person", detail: "This face is not enrolled here." };
    case "user_not_enrolled":
      return { tone: "failure", title: "Not enrolled", detail: "This person has no face enrolled yet." };
    case "user_inactive":
      return { tone: "failure", title: "Access deactivated", detail: "Please ask an administrator." };
    case "uncertain_match":
      return { tone: "unknown", title: "Not sure who this is", detail: "Please look straight at the camera and try again." };
    case "not_enough_samples":
      return { tone: "unknown", title: "No clear view of a face", detail: "Please come closer and look at the camera." };
    case "no_match":
      return { tone: "unknown", title: "Unknown person", detail: "This face is not enrolled here." };
    default:
      return p.status === "unknown"
        ? { tone: "unknown", title: "Unknown person", detail: "" }
        : { tone: "failure", title: "Not recognised", detail: "" };
  }
}

const PROMPTS = {
  please_blink: "Please blink",
  please_turn_left: "Turn your head to your left",
  please_turn_right: "Turn your head to your right",
  please_nod: "Nod your head",
  please_smile: "Please smile",
  please_head_movement: "Move your head a little",
};

/** The on-screen instruction of a challenge (server text when it sends one). */
export function promptText(p) {
  const text = p.challenge_prompt || p.challenge_text || p.prompt_text;
  if (text) return text;
  const code = p.challenge;
  if (!code) return "";
  return PROMPTS[code] || PROMPTS[`please_${code}`] || code.replace(/^please_/, "").replace(/_/g, " ");
}
