// Pictures attached to a reply (MMS), as pure rules: which files may be
// attached, how many, how large together, what the composer says about
// them, and what an upload's refusal means to the agent. The switchboard
// checks the same rules (by the file's bytes, not its declared type); these
// only spare the agent an upload that would be refused.

/** The types every carrier gets (Twilio); the file picker offers only these. */
export const ACCEPT = ["image/jpeg", "image/png", "image/gif"];
/** Most pictures in one message. */
export const MAX_ITEMS = 10;
/** Most bytes of one message's pictures together (5 MB). */
export const MAX_BYTES = 5 * 1024 * 1024;

/** The upload URL for a conversation (the agent UI forwards it). */
export function uploadUrl(conversation) {
  return `/media/${encodeURIComponent(conversation)}`;
}

/** "1.2 MB", "340 KB", "12 bytes". */
export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

/** Bytes already attached (uploading or uploaded; failed ones do not count). */
export function attachedBytes(items) {
  return items.filter((i) => i.status !== "failed").reduce((sum, i) => sum + (i.bytes || 0), 0);
}

/**
 * Which of `files` ({name, type, size}) may be added to `items` (what is
 * attached already): each refused one with the reason, in the order given.
 */
export function admit(items, files) {
  const accepted = [];
  const refused = [];
  let count = items.filter((i) => i.status !== "failed").length;
  let bytes = attachedBytes(items);
  for (const file of files) {
    const name = file.name || "picture";
    if (!ACCEPT.includes(String(file.type).toLowerCase())) {
      refused.push({ name, reason: "only JPEG, PNG and GIF pictures can be sent" });
    } else if (file.size === 0) {
      refused.push({ name, reason: "the file is empty" });
    } else if (count >= MAX_ITEMS) {
      refused.push({ name, reason: `at most ${MAX_ITEMS} pictures per message` });
    } else if (bytes + file.size > MAX_BYTES) {
      refused.push({ name, reason: `over 5 MB together (${formatBytes(bytes + file.size)})` });
    } else {
      accepted.push(file);
      count += 1;
      bytes += file.size;
    }
  }
  return { accepted, refused };
}

/** The sentence for a refused upload, from the switchboard's `{code, message}`. */
export function uploadError(status, answer) {
  const code = answer && typeof answer.code === "string" ? answer.code : null;
  switch (code) {
    case "too_large":
      return "too large: at most 5 MB";
    case "unsupported_type":
      return "not a JPEG, PNG or GIF picture";
    case "empty":
      return "the file is empty";
    case "not_holder":
      return "this conversation is no longer yours";
    default:
      if (status === 401) return "signed out: sign in again";
      if (status >= 500 || status === 0) return "the switchboard cannot store it now: try again";
      return (answer && answer.message) || `refused (${status})`;
  }
}

/** The `media` of a reply frame: the uploaded pictures, in order. */
export function replyMedia(items) {
  return items.filter((i) => i.status === "ready").map((i) => ({ url: i.url, content_type: i.content_type }));
}

/** Whether the reply may be sent now: nothing still uploading. */
export function settled(items) {
  return !items.some((i) => i.status === "uploading");
}

/**
 * The composer meter's words when pictures are attached (a message with
 * media goes as one MMS, so SMS segments do not apply), or null.
 */
export function meterText(items) {
  const live = items.filter((i) => i.status !== "failed");
  if (!live.length) return null;
  const n = live.length;
  return `MMS · ${n} ${n === 1 ? "picture" : "pictures"} · ${formatBytes(attachedBytes(items))} of 5 MB`;
}
