// Torrents: filter by instance and state, page through, and act on one torrent
// (recheck, remove with optional blocklist, protect) after a confirmation.
import { api } from "./api.js";
import { badge, bytes, clear, confirmAction, h, runCommand, when } from "./dom.js";

const STATES = ["", "downloading", "stalled", "seeding", "queued", "errored", "paused", "checking", "metadata", "missing_files", "completed"];
const PAGE = 50;

export function mount(root) {
  const instance = h("select", { "data-testid": "filter-instance", "aria-label": "Instance" }, h("option", { value: "" }, "all instances"));
  const state = h("select", { "data-testid": "filter-state", "aria-label": "State" }, STATES.map((s) => h("option", { value: s }, s || "all states")));
  const info = h("span", { class: "muted", "data-testid": "torrents-total" });
  const prev = h("button", { type: "button" }, "‹ Prev");
  const next = h("button", { type: "button" }, "Next ›");
  const body = h("tbody");
  let offset = 0;
  root.append(
    h("h2", {}, "Torrents"),
    h("div", { class: "toolbar" }, instance, state, prev, next, info),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "torrents-table" },
      h("thead", {}, h("tr", {}, ["Name", "Instance", "State", "Progress", "Strikes", "Last action", ""].map((t) => h("th", {}, t)))),
      body)),
  );

  async function act(t, command) {
    const label = { recheck: "Recheck", remove: "Remove", protect: t.protected ? "Unprotect" : "Protect" }[command];
    const { ok, option } = await confirmAction(`${label} “${t.name || t.hash}”?`, {
      okLabel: label,
      option: command === "remove" ? "Also blocklist the release in the Arr (it will not be grabbed again)" : null,
    });
    if (!ok) return;
    const body = { command, instance: t.instance, hash: t.hash };
    if (command === "remove") body.blocklist = option;
    if (command === "protect") body.value = !t.protected;
    await runCommand(api("commands", { method: "POST", body }), `${label} ${t.name || t.hash}`);
    load();
  }

  function rowOf(t) {
    const health = t.health || t.state || "unknown";
    const kind = { stalled: "warn", errored: "bad", missing_files: "bad", seeding: "ok", completed: "ok" }[health] || "";
    return h("tr", { "data-testid": "torrent-row", "data-hash": t.hash },
      h("td", { class: "wrap" }, t.name || t.hash, t.protected ? [" ", badge("protected", "ok")] : null, h("div", { class: "muted" }, bytes(t.size))),
      h("td", {}, t.instance),
      h("td", {}, badge(health, kind), t.state && t.state !== health ? h("div", { class: "muted" }, t.state) : null),
      h("td", {}, t.progress != null ? `${Math.round(t.progress * 100)}%` : "—"),
      h("td", { class: "wrap", "data-testid": "torrent-strikes" }, t.strikes, t.strike_reason ? h("div", { class: "muted" }, t.strike_reason) : null),
      h("td", {}, t.last_action || "—", t.last_action_at ? h("div", { class: "muted" }, when(t.last_action_at)) : null),
      h("td", {}, h("div", { class: "row-actions" },
        h("button", { type: "button", "data-testid": "torrent-recheck", onclick: () => act(t, "recheck") }, "Recheck"),
        h("button", { type: "button", "data-testid": "torrent-remove", onclick: () => act(t, "remove") }, "Remove"),
        h("button", { type: "button", "data-testid": "torrent-protect", onclick: () => act(t, "protect") }, t.protected ? "Unprotect" : "Protect"))));
  }

  async function load() {
    try {
      const { data } = await api("torrents", { query: { instance: instance.value, state: state.value, limit: PAGE, offset } });
      clear(body, data.torrents.length ? data.torrents.map(rowOf) : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No torrents.")));
      info.textContent = data.total ? `${offset + 1}–${offset + data.torrents.length} of ${data.total}` : "";
      prev.disabled = offset === 0;
      next.disabled = offset + data.torrents.length >= data.total;
    } catch (err) {
      clear(body, h("tr", {}, h("td", { colspan: 7, class: "error" }, err.message)));
    }
  }

  prev.onclick = () => { offset = Math.max(0, offset - PAGE); load(); };
  next.onclick = () => { offset += PAGE; load(); };
  instance.onchange = state.onchange = () => { offset = 0; load(); };
  api("instances").then(({ data }) => data.instances.forEach((i) => instance.append(h("option", { value: i.name }, i.name)))).catch(() => {});
  load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}
