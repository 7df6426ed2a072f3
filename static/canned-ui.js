// The canned replies on the page: the suggestion list under the reply box
// (`/` + keyword; ↑/↓ to choose, Enter or Tab to insert, Esc to close), and
// the picker dialog (search, insert, create, edit, delete). The rules and
// text handling are `canned.js`'s; this module only draws and listens.
//
// Every piece of text is written with textContent, never parsed as HTML.

import { bodyProblem, fill, keywordProblem, normalKeyword, slashQuery, splice, suggestions } from "./canned.js";

const $ = (id) => document.getElementById(id);

function el(tag, { className, text, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  for (const [a, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== null && v !== false) node.setAttribute(a, v === true ? "" : String(v));
  node.append(...children);
  return node;
}

/**
 * Wires the suggestion list and the picker to the page's elements.
 *
 * `context()` gives { customer, agent } for the placeholders (customer null
 * when no conversation is open); `send(frame)` sends a browser frame and
 * says whether it went out; `changed()` is called after the reply box's text
 * was changed here (drafts, meter).
 */
export class CannedUi {
  constructor({ context, send, changed }) {
    this.context = context;
    this.send = send;
    this.changed = changed;
    this.replies = [];
    /** The open suggestion list: { range, items, active } or null. */
    this.open = null;
    this.ta = $("composer-input");
    this.box = $("canned-suggestions");
    this.dialog = $("canned-dialog");
    /** Where the picker inserts: the reply box's selection when it opened. */
    this.insertAt = null;
    /** The save sent and not yet seen in a `canned` frame. */
    this.pendingSave = null;
    this.#wire();
  }

  /** The team's list changed (a `state` or `canned` frame). */
  setReplies(list) {
    this.replies = Array.isArray(list) ? list : [];
    // The save this page sent is in: the form is free for the next one.
    const saved = this.pendingSave;
    if (saved && this.replies.some((r) => r.keyword === saved.keyword && r.body === saved.body.trimEnd())) {
      this.pendingSave = null;
      this.#edit(null);
    }
    // The reply being edited was deleted (here or in another tab).
    const editing = $("canned-replaces").value;
    if (editing && !this.pendingSave && !this.replies.some((r) => r.keyword === editing)) this.#edit(null);
    if (this.open) this.#suggest();
    if (this.dialog.open) this.#renderList();
  }

  /** The switchboard refused an edit: shown in the picker's form. */
  showError(message) {
    // The form keeps what was typed, to be corrected.
    this.pendingSave = null;
    this.#formError(message || "The canned reply could not be saved.");
    if (!this.dialog.open) this.openPicker();
  }

  /** Opens the picker (the button, the `c` shortcut). */
  openPicker() {
    this.insertAt = { start: this.ta.selectionStart ?? this.ta.value.length, end: this.ta.selectionEnd ?? this.ta.value.length };
    this.#close();
    $("canned-search").value = "";
    this.#renderList();
    if (!this.dialog.open) this.dialog.showModal();
    $("canned-search").focus();
  }

  #wire() {
    // Capture phase on the form: runs before the reply box's own Enter-to-send.
    $("composer").addEventListener("keydown", (ev) => this.#onKey(ev), true);
    this.ta.addEventListener("input", () => this.#suggest());
    this.ta.addEventListener("click", () => this.#suggest());
    // Leaving the box closes the list (a click on an option is taken on
    // mousedown, before the blur); unless the focus came back meanwhile.
    this.ta.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== this.ta) this.#close();
    }, 150));
    this.box.addEventListener("mousedown", (ev) => {
      const li = ev.target.closest("li[data-index]");
      if (!li) return;
      ev.preventDefault();
      this.#pick(Number(li.dataset.index));
    });
    $("canned-button").addEventListener("click", () => this.openPicker());
    $("canned-search").addEventListener("input", () => this.#renderList());
    $("canned-list").addEventListener("click", (ev) => this.#onListClick(ev));
    $("canned-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.#save();
    });
    $("canned-new").addEventListener("click", () => this.#edit(null));
    $("canned-close").addEventListener("click", () => this.dialog.close());
  }

  #onKey(ev) {
    if (ev.target !== this.ta || !this.open || ev.isComposing) return;
    const n = this.open.items.length;
    let handled = true;
    if (ev.key === "ArrowDown") this.#activate((this.open.active + 1) % n);
    else if (ev.key === "ArrowUp") this.#activate((this.open.active - 1 + n) % n);
    else if ((ev.key === "Enter" && !ev.shiftKey) || ev.key === "Tab") this.#pick(this.open.active);
    else if (ev.key === "Escape") this.#close();
    else handled = false;
    if (handled) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  }

  #suggest() {
    const caret = this.ta.selectionStart;
    const q = caret === this.ta.selectionEnd ? slashQuery(this.ta.value, caret) : null;
    const items = q ? suggestions(this.replies, q.query) : [];
    if (!q || items.length === 0) return this.#close();
    const keep = this.open?.items[this.open.active]?.keyword;
    const active = Math.max(0, items.findIndex((r) => r.keyword === keep));
    this.open = { range: q, items, active };
    this.box.replaceChildren(
      ...items.map((r, i) =>
        el(
          "li",
          { className: "canned-option", attrs: { id: `canned-option-${i}`, role: "option", "data-index": i, "aria-selected": i === active ? "true" : "false" } },
          el("span", { className: "canned-keyword", text: `/${r.keyword}` }),
          el("span", { className: "canned-body", text: r.body }),
        ),
      ),
    );
    this.box.hidden = false;
    this.ta.setAttribute("aria-expanded", "true");
    this.ta.setAttribute("aria-activedescendant", `canned-option-${active}`);
  }

  #activate(i) {
    this.open.active = i;
    for (const li of this.box.children) li.setAttribute("aria-selected", li.dataset.index === String(i) ? "true" : "false");
    this.ta.setAttribute("aria-activedescendant", `canned-option-${i}`);
    this.box.children[i]?.scrollIntoView({ block: "nearest" });
  }

  #close() {
    this.open = null;
    this.box.hidden = true;
    this.box.replaceChildren();
    this.ta.setAttribute("aria-expanded", "false");
    this.ta.removeAttribute("aria-activedescendant");
  }

  #pick(i) {
    const reply = this.open?.items[i];
    if (!reply) return;
    const { start, end } = this.open.range;
    this.#close();
    this.#insert(reply, start, end);
  }

  /** Puts `reply`, filled in, in place of the reply box's `[start, end)`. */
  #insert(reply, start, end) {
    const { customer, agent } = this.context();
    const out = splice(this.ta.value, start, end, fill(reply.body, { customer: customer ?? "", agent }));
    this.ta.value = out.text;
    this.ta.focus();
    this.ta.setSelectionRange(out.caret, out.caret);
    this.changed();
  }

  #renderList() {
    const q = normalKeyword($("canned-search").value);
    const items = suggestions(this.replies, q, Infinity);
    const canInsert = Boolean(this.context().customer) && !this.ta.disabled;
    const rows = items.map((r) =>
      el(
        "li",
        { className: "canned-row", attrs: { "data-keyword": r.keyword } },
        el(
          "div",
          { className: "canned-row-text" },
          el("span", { className: "canned-keyword", text: `/${r.keyword}` }),
          el("span", { className: "canned-body", text: r.body }),
          r.updated_by ? el("span", { className: "canned-meta muted", text: `saved by ${r.updated_by}` }) : "",
        ),
        el(
          "div",
          { className: "canned-row-actions" },
          el("button", { className: "btn btn-small btn-primary", text: "Insert", attrs: { type: "button", "data-action": "insert", disabled: !canInsert, "aria-label": `Insert /${r.keyword}` } }),
          el("button", { className: "btn btn-small", text: "Edit", attrs: { type: "button", "data-action": "edit", "aria-label": `Edit /${r.keyword}` } }),
          el("button", { className: "btn btn-small btn-danger", text: "Delete", attrs: { type: "button", "data-action": "delete", "aria-label": `Delete /${r.keyword}` } }),
        ),
      ),
    );
    if (rows.length === 0) {
      rows.push(el("li", { className: "canned-empty muted", text: this.replies.length ? "No canned reply matches." : "No canned replies yet: add the first one below." }));
    }
    $("canned-list").replaceChildren(...rows);
  }

  #onListClick(ev) {
    const button = ev.target.closest("button[data-action]");
    const row = ev.target.closest("li[data-keyword]");
    if (!button || !row) return;
    const reply = this.replies.find((r) => r.keyword === row.dataset.keyword);
    if (!reply) return;
    const action = button.dataset.action;
    if (action === "insert") {
      const at = this.insertAt ?? { start: this.ta.value.length, end: this.ta.value.length };
      this.dialog.close();
      this.#insert(reply, at.start, at.end);
    } else if (action === "edit") {
      this.#edit(reply);
    } else if (action === "delete") {
      if (!this.send({ type: "canned_delete", keyword: reply.keyword })) this.#formError("Not connected: nothing was deleted.");
    }
  }

  /** Fills the form to edit `reply`, or empties it for a new one. */
  #edit(reply) {
    $("canned-replaces").value = reply?.keyword ?? "";
    $("canned-keyword").value = reply?.keyword ?? "";
    $("canned-body").value = reply?.body ?? "";
    $("canned-form-title").textContent = reply ? `Edit /${reply.keyword}` : "New canned reply";
    this.#formError("");
    if (this.dialog.open) $("canned-keyword").focus();
  }

  #save() {
    const keyword = $("canned-keyword").value;
    const body = $("canned-body").value;
    const problem = keywordProblem(keyword) ?? bodyProblem(body);
    if (problem) return this.#formError(problem);
    const replaces = $("canned-replaces").value || null;
    const frame = { type: "canned_save", keyword: normalKeyword(keyword), body, replaces };
    if (!this.send(frame)) return this.#formError("Not connected: the canned reply was not saved.");
    this.#formError("");
    // The new list comes back as a `canned` frame to every tab; the form is
    // emptied then (a refusal leaves it as typed).
    this.pendingSave = { keyword: frame.keyword, body };
  }

  #formError(message) {
    const p = $("canned-error");
    p.textContent = message;
    p.hidden = !message;
  }
}
