// What only agents see in a conversation: private notes (direction "note")
// and timeline events (direction "event": transferred, resolved, reopened,
// with who in `agent` and when in `at_ms`). Neither is a text between the
// customer and the team: neither answers the customer nor makes them wait,
// and the conversation list previews the last text or note, never an event.

/** A private note or a timeline event. */
export function isInternal(m) {
  return m?.direction === "note" || m?.direction === "event";
}

/** A private note. */
export function isNote(m) {
  return m?.direction === "note";
}

/** One line for people about an event (`m.event`: {kind, …}). */
export function eventText(event) {
  switch (event?.kind) {
    case "transferred":
      return event.to ? `Transferred from ${event.from} to ${event.to}` : `Returned to the queue by ${event.from}`;
    case "resolved":
      return `Resolved by ${event.by}`;
    case "reopened":
      return `Reopened by ${event.by}`;
    default:
      return "Conversation updated";
  }
}

/** The message the conversation list previews: the last one that is not an event. */
export function previewOf(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.direction !== "event") return messages[i];
  }
  return null;
}

/** The longest note the switchboard stores (the protocol's MAX_NOTE_CHARS). */
export const MAX_NOTE_CHARS = 4000;
