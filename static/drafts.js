// What the agent typed survives a reload: the unsent text per conversation
// (drafts) and the replies sent but not yet acknowledged by the switchboard
// (the outbox). Both live in the browser's localStorage under keys that name
// the agent, so two agents sharing a browser never see each other's text.
//
// A reply leaves the outbox only once the switchboard stored it (its `ack`, or
// the message itself with the same client_id) or once the conversation left
// the agent; after a reload the page sends what is still there again with the
// same client_id, which the switchboard stores at most once.
//
// Storage can be missing or full (private windows, quotas): then everything
// still works for this page's lifetime, only nothing survives a reload.

/** One agent's drafts and outbox on top of a `Storage`-like object. */
export class DraftStore {
  /**
   * @param {string} agent  whose text this is (part of the keys)
   * @param {Storage|null} storage  localStorage, or a stand-in in tests
   */
  constructor(agent, storage) {
    this.storage = storage;
    this.draftKey = `switchboard:${agent}:drafts`;
    this.outboxKey = `switchboard:${agent}:outbox`;
    this.drafts = this.#read(this.draftKey, {});
    this.outbox = this.#read(this.outboxKey, []);
    if (typeof this.drafts !== "object" || this.drafts === null || Array.isArray(this.drafts)) this.drafts = {};
    if (!Array.isArray(this.outbox)) this.outbox = [];
  }

  #read(key, fallback) {
    try {
      const raw = this.storage?.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch {
      return fallback;
    }
  }

  #write(key, value) {
    try {
      this.storage?.setItem(key, JSON.stringify(value));
    } catch {
      /* no storage or full: this page still has it in memory */
    }
  }

  /** The unsent text for `conversation` ("" when none). */
  draft(conversation) {
    return typeof this.drafts[conversation] === "string" ? this.drafts[conversation] : "";
  }

  /** Keeps `text` as the draft of `conversation` (an empty text removes it). */
  setDraft(conversation, text) {
    if (text === this.draft(conversation)) return;
    if (text) this.drafts[conversation] = text;
    else delete this.drafts[conversation];
    this.#write(this.draftKey, this.drafts);
  }

  /**
   * Replies not yet acknowledged: `[{client_id, conversation, body, created,
   * media?, failed?, error?}]`, oldest first. A failed one was refused or could not be
   * sent; it is kept so the agent can still retry it after a reload.
   */
  unacknowledged() {
    return this.outbox.filter((r) => r && typeof r.client_id === "string" && typeof r.body === "string");
  }

  /** Records a reply (or, with `kind` "note", a private note) that was just sent. */
  sent({ client_id, conversation, body, created, kind, media }) {
    this.outbox = this.outbox.filter((r) => r.client_id !== client_id);
    const reply =
      kind === "note" ? { client_id, conversation, body, created, kind } : { client_id, conversation, body, created };
    // A reply's pictures (uploaded already: their links) go with it.
    if (kind !== "note" && Array.isArray(media) && media.length) reply.media = media;
    this.outbox.push(reply);
    this.#write(this.outboxKey, this.outbox);
  }

  /** The reply `clientId` failed with `error` (`{code, message}`); kept for a retry. */
  failed(clientId, error) {
    const reply = this.outbox.find((r) => r.client_id === clientId);
    if (!reply) return;
    reply.failed = true;
    reply.error = error ?? null;
    this.#write(this.outboxKey, this.outbox);
  }

  /** The switchboard stored it, or the agent sent it again under a new id: forget it. */
  acknowledged(clientId) {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((r) => r.client_id !== clientId);
    if (this.outbox.length !== before) this.#write(this.outboxKey, this.outbox);
  }

  /** The conversation left the agent: its draft and unsent replies go too. */
  forget(conversation) {
    const hadDraft = conversation in this.drafts;
    delete this.drafts[conversation];
    if (hadDraft) this.#write(this.draftKey, this.drafts);
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((r) => r.conversation !== conversation);
    if (this.outbox.length !== before) this.#write(this.outboxKey, this.outbox);
  }
}
