// The Queue view's and the supervisor's panel's rules, apart from the page:
// the order the waiting customers are listed in, and the live panel's
// figures. What is shown comes from the agent UI server (waiting labels,
// moods); these only arrange it.

/** How many more waiting customers one "Show more" lists (the switchboard's QUEUE_LIST_LIMIT). */
export const QUEUE_PAGE = 50;
/** The most a Queue view lists (the switchboard's QUEUE_WINDOW_MAX). */
export const QUEUE_WINDOW_MAX = 1000;

/**
 * "Show more" in the Queue view: with `listed` of `length` waiting shown,
 * the `queue_window` limit to ask for and how many that adds, or null when
 * everyone is listed or the window is at its most.
 */
export function nextWindow(listed, length) {
  const shown = Math.max(0, Number(listed) || 0);
  const waiting = Math.max(0, Number(length) || 0);
  if (shown >= waiting || shown >= QUEUE_WINDOW_MAX) return null;
  const limit = Math.min(QUEUE_WINDOW_MAX, shown + QUEUE_PAGE);
  return { limit, adds: Math.min(limit, waiting) - shown };
}

/** "5 minutes ago" → "5 minutes": how long, next to the clock icon. */
export function waitedFor(label) {
  return String(label ?? "").replace(/ ago$/, "");
}

/**
 * Queue entries (`{conversation, waiting: {since_ms}}`), the longest waiting
 * first; equal waits by number, so the order never flickers.
 */
export function sortQueue(entries) {
  return [...(entries ?? [])].sort((a, b) => {
    const wait = (Number(a.waiting?.since_ms) || 0) - (Number(b.waiting?.since_ms) || 0);
    if (wait !== 0) return wait;
    return String(a.conversation).localeCompare(String(b.conversation));
  });
}

/**
 * The live panel's figures from an `overview` (`{queue_length, longest_wait,
 * agents: [{online, available, load, capacity}]}`): how many wait and for how
 * long, agents online / available, and the load of the agents online against
 * their capacity (away or not: an away agent still holds conversations).
 */
export function liveSummary(overview) {
  const agents = overview?.agents ?? [];
  const online = agents.filter((a) => a.online);
  return {
    queueLength: Number(overview?.queue_length) || 0,
    longestWait: overview?.longest_wait ? waitedFor(overview.longest_wait.label) : null,
    online: online.length,
    available: online.filter((a) => a.available).length,
    load: online.reduce((sum, a) => sum + (Number(a.load) || 0), 0),
    capacity: online.reduce((sum, a) => sum + (Number(a.capacity) || 0), 0),
  };
}
