// Resolve and Transfer can be undone for a few seconds: the page holds the
// command back for `UNDO_MS` and sends it unless the agent clicks Undo. The
// switchboard only ever sees a command the agent let stand. If the page goes
// away meanwhile (closed, reloaded), what is held is sent at once: leaving
// is not undoing.

/** How long a Resolve or Transfer can be taken back. */
export const UNDO_MS = 5000;

/**
 * Commands held back, at most one per conversation (a new one replaces the
 * one held, which is dropped: the agent changed their mind).
 *
 * `send(frame)` delivers a command; `timers` is { set(fn, ms) → handle,
 * clear(handle) } (the page passes setTimeout/clearTimeout; tests a fake).
 */
export class HeldCommands {
  constructor(send, timers, delayMs = UNDO_MS) {
    this.send = send;
    this.timers = timers;
    this.delayMs = delayMs;
    /** conversation → { frame, handle } */
    this.held = new Map();
  }

  /** Holds `frame` (a resolve or transfer of `frame.conversation`). */
  hold(frame) {
    const id = frame.conversation;
    this.cancel(id);
    const handle = this.timers.set(() => this.release(id), this.delayMs);
    this.held.set(id, { frame, handle });
  }

  /** The command held for `id`, or null. */
  heldFor(id) {
    return this.held.get(id)?.frame ?? null;
  }

  /** Undo: drops what is held for `id`; true if something was. */
  cancel(id) {
    const entry = this.held.get(id);
    if (!entry) return false;
    this.timers.clear(entry.handle);
    this.held.delete(id);
    return true;
  }

  /** Sends what is held for `id` now. */
  release(id) {
    const entry = this.held.get(id);
    if (!entry) return;
    this.timers.clear(entry.handle);
    this.held.delete(id);
    this.send(entry.frame);
  }

  /** Sends everything held now (the page is going away). */
  releaseAll() {
    for (const id of [...this.held.keys()]) this.release(id);
  }
}
