// Customer mood: names of the sentiment labels the agent UI server sends, and
// which mood the conversation list shows.
//
// The list shows the WORST recent mood, not the latest: "this is terrible"
// followed by "hello??" (neutral) is still an unhappy customer. "Recent" means
// the customer's messages since the agent last replied; once the agent has
// replied to everything, the customer's latest message.

/** Label → words for people (tooltips, screen readers). */
export const MOOD_NAMES = Object.freeze({
  devil: "very upset",
  unhappy: "unhappy",
  neutral: "neutral",
  happy: "content",
  wink: "delighted",
});

/** The `agent` of the switchboard's own automatic texts (the protocol's AUTOMATIC_AUTHOR). */
export const AUTOMATIC_AUTHOR = "switchboard";

/** An automatic text to a waiting customer, not an agent's reply. */
export function isAutomatic(m) {
  return m?.direction === "outbound" && m.agent === AUTOMATIC_AUTHOR;
}

/** Worst first. */
const ORDER = ["devil", "unhappy", "neutral", "happy", "wink"];

/** Words for a label (the label itself when unknown). */
export function moodName(label) {
  return MOOD_NAMES[label] ?? String(label);
}

/** Negative when `a` is worse than `b`; unknown labels count as neutral. */
export function compareMoods(a, b) {
  const rank = (l) => (ORDER.includes(l) ? ORDER.indexOf(l) : ORDER.indexOf("neutral"));
  return rank(a) - rank(b);
}

/**
 * The mood the conversation list shows for `messages` (oldest first, each
 * `{direction, sentiment?: {label}}`): the worst label among the inbound
 * messages after the last outbound one, or the latest inbound label when the
 * agent spoke last; null when the customer has no labelled message.
 */
export function recentMood(messages) {
  let worst = null;
  let latestBefore = null;
  let answered = false;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    // Notes and timeline events are the team's own: no answer, no mood.
    if (m.direction === "note" || m.direction === "event") continue;
    if (m.direction !== "inbound") {
      // The switchboard's automatic texts are no one's answer.
      if (!isAutomatic(m)) answered = true;
      continue;
    }
    const label = m.sentiment?.label;
    if (!label) continue;
    if (answered) {
      latestBefore = label;
      break;
    }
    if (worst === null || compareMoods(label, worst) < 0) worst = label;
  }
  return worst ?? latestBefore;
}
