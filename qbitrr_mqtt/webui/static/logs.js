// Logs: pick a program and follow its log live (the last lines first, then new ones).
import { api, stream } from "./api.js";
import { h } from "./dom.js";

const KEEP = 2000;

export function mount(root) {
  const select = h("select", { "data-testid": "log-select", "aria-label": "Program" });
  const pause = h("button", { type: "button", "data-testid": "log-pause" }, "Pause");
  const pre = h("pre", { class: "log", "data-testid": "log-lines" });
  const status = h("span", { class: "muted" });
  root.append(h("h2", {}, "Logs"), h("div", { class: "toolbar" }, select, pause, status), pre);
  let controller = null;
  let paused = false;

  function append(lines) {
    if (paused || !lines.length) return;
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    pre.textContent = (pre.textContent ? pre.textContent + "\n" : "") + lines.join("\n");
    const all = pre.textContent.split("\n");
    if (all.length > KEEP) pre.textContent = all.slice(-KEEP).join("\n");
    if (stick) pre.scrollTop = pre.scrollHeight;
  }

  function follow() {
    if (controller) controller.abort();
    controller = new AbortController();
    pre.textContent = "";
    status.textContent = "";
    const name = encodeURIComponent(select.value);
    stream(`logs/${name}?follow=true&lines=300`, (event, data) => event === "lines" && append(data.lines), controller.signal)
      .catch((err) => { if (err.name !== "AbortError") status.textContent = err.message; });
  }

  pause.onclick = () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; };
  select.onchange = follow;
  api("logs").then(({ data }) => {
    data.logs.forEach((l) => select.append(h("option", { value: l.process }, l.exists ? l.process : `${l.process} (no file yet)`)));
    follow();
  }).catch((err) => { status.textContent = err.message; });
  return () => controller && controller.abort();
}
