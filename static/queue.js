// The Queue view's and the supervisor's panel's rules, apart from the page:
// the order the waiting customers are listed in, and the live panel's
// figures. What is shown comes from the agent UI server (waiting labels,
// moods); these only arrange it.

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
