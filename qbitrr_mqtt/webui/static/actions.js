// Actions timeline: the audit trail, newest first, with new actions arriving live over SSE.
import { api } from "./api.js";
import { badge, clear, h, when } from "./dom.js";

const STATUS_KIND = { done: "ok", failed: "bad", intent: "warn", skipped: "" };

function item(a, fresh = false) {
  return h("li", { "data-testid": "action-row", "data-id": a.id, class: fresh ? "new" : "" },
    h("div", {}, h("strong", {}, a.action), " ", badge(a.status, STATUS_KIND[a.status] ?? ""), a.dry_run ? [" ", badge("dry run", "warn")] : null,
      " ", h("span", { class: "muted" }, `${a.instance} · ${when(a.created_at)}`)),
    h("div", {}, a.name || a.hash || (a.media_id != null ? `media ${a.media_id}` : "")),
    a.reason ? h("div", { class: "muted" }, a.reason) : null,
    a.error ? h("div", { class: "error" }, a.error) : null);
}

export function mount(root, { onEvent }) {
  const list = h("ol", { class: "timeline", "data-testid": "actions-list" });
  root.append(h("h2", {}, "Actions"), list);
  const seen = new Set();

  function add(a, fresh) {
    const existing = list.querySelector(`[data-id="${a.id}"]`);
    if (existing) existing.replaceWith(item(a, fresh));
    else if (fresh) list.prepend(item(a, true));
    else list.append(item(a));
    seen.add(a.id);
  }

  api("actions", { query: { limit: 200 } })
    .then(({ data }) => {
      if (!data.actions.length && !seen.size) clear(list, h("li", { class: "muted", "data-testid": "actions-empty" }, "No actions yet."));
      data.actions.filter((a) => !seen.has(a.id)).forEach((a) => add(a, false));
    })
    .catch((err) => clear(list, h("li", { class: "error" }, err.message)));

  return onEvent((name, data) => {
    if (name !== "action") return;
    list.querySelector("[data-testid=actions-empty]")?.remove();
    add(data, true);
  });
}
