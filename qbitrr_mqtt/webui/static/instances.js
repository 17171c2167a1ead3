// Instances: one card per Arr instance with its connections, counts by state and commands.
import { api } from "./api.js";
import { badge, clear, confirmAction, duration, h, runCommand, when } from "./dom.js";

function connection(label, value) {
  const kind = value === true ? "ok" : value === false ? "bad" : "";
  return badge(`${label} ${value === true ? "connected" : value === false ? "down" : "unknown"}`, kind);
}

export function mount(root) {
  const cards = h("div", { class: "cards", "data-testid": "instances" });
  root.append(h("h2", {}, "Instances"), cards);

  async function command(inst, what, path, body) {
    const { ok } = await confirmAction(`${what} on ${inst.name}?`, { okLabel: what });
    if (ok) await runCommand(api(`instances/${encodeURIComponent(inst.name)}/${path}`, { method: "POST", body }), `${what} ${inst.name}`);
  }

  function card(inst) {
    const counts = Object.entries(inst.counts || {});
    return h("section", { class: "card", "data-testid": "instance-card", "data-name": inst.name },
      h("h2", {}, inst.name, " ", h("span", { class: "muted" }, inst.type), inst.dry_run ? badge("dry run", "warn") : null),
      h("div", { class: "row-actions" }, connection("qBittorrent", inst.qbit_connected), connection(inst.type, inst.arr_connected)),
      h("dl", {},
        counts.length ? counts.flatMap(([state, n]) => [h("dt", {}, state), h("dd", { "data-testid": `count-${state}` }, n)])
          : [h("dt", {}, "torrents"), h("dd", {}, "none counted yet")],
        h("dt", {}, "queue"), h("dd", {}, inst.queue_size ?? "—"),
        h("dt", {}, "last cycle"), h("dd", {}, when(inst.last_cycle_at), inst.last_cycle_duration != null ? ` (${duration(inst.last_cycle_duration)})` : ""),
        inst.error ? [h("dt", {}, "error"), h("dd", { class: "error" }, inst.error)] : null),
      h("div", { class: "row-actions" },
        h("button", { type: "button", onclick: () => command(inst, "Run now", "run-now") }, "Run now"),
        h("button", { type: "button", onclick: () => command(inst, "Search missing", "search", { missing: true }) }, "Search missing")));
  }

  async function load() {
    try {
      const { data } = await api("instances");
      clear(cards, data.instances.length ? data.instances.map(card) : h("p", { class: "muted" }, "No Arr instances configured."));
    } catch (err) {
      clear(cards, h("p", { class: "error" }, err.message));
    }
  }
  load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
