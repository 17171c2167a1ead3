// Processes: supervisord's programs with state, pid, uptime, restarts and the restart-limit
// warning; restart a manager or the bridge (after a confirmation).
import { api } from "./api.js";
import { badge, clear, confirmAction, duration, h, runCommand, when } from "./dom.js";

const STATE_KIND = { RUNNING: "ok", STARTING: "warn", BACKOFF: "warn", STOPPING: "warn", FATAL: "bad", EXITED: "bad", STOPPED: "" };

export function mount(root, { onEvent }) {
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  root.append(
    h("h2", {}, "Processes"),
    note,
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "processes-table" },
      h("thead", {}, h("tr", {}, ["Program", "State", "PID", "Uptime", "Restarts", "Last restart", ""].map((t) => h("th", {}, t)))),
      body)),
  );

  async function restart(p) {
    const { ok } = await confirmAction(`Restart ${p.name}?`, { okLabel: "Restart" });
    if (!ok) return;
    const request = p.category === "manager"
      ? api(`instances/${encodeURIComponent(p.instance)}/restart`, { method: "POST" })
      : api("commands", { method: "POST", body: { command: "restart", instance: p.name } });
    await runCommand(request, `restart ${p.name}`);
    load();
  }

  function rowOf(p) {
    return h("tr", { "data-testid": "process-row", "data-name": p.name },
      h("td", {}, p.name),
      h("td", {}, badge(p.status, STATE_KIND[p.status] ?? ""),
        p.restart_limit_reached ? h("span", { class: "error", "data-testid": "restart-limit" }, " ⚠ restart limit reached") : null),
      h("td", { "data-testid": "process-pid" }, p.pid ?? "—"),
      h("td", {}, duration(p.uptime)),
      h("td", {}, p.restart_count),
      h("td", {}, when(p.last_restart)),
      h("td", {}, p.category === "webui" ? null
        : h("button", { type: "button", "data-testid": "restart-button", onclick: () => restart(p) }, "Restart")));
  }

  async function load() {
    try {
      const { data } = await api("processes");
      clear(body, data.processes.map(rowOf));
      const fromStore = data.processes.some((p) => p.source === "store");
      note.textContent = fromStore ? "supervisord is not reachable: last known states from the store." : "";
      if (!data.processes.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No processes known yet.")));
    } catch (err) {
      note.textContent = err.message;
    }
  }

  load();
  const timer = setInterval(load, 5000);
  const off = onEvent((name) => name === "process" && load());
  return () => { clearInterval(timer); off(); };
}
