// Small DOM helpers shared by the views: element builder, formatting, toast, confirmation.

/** h("td", {class: "x", dataset: {testid: "y"}, onclick}, child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c != null));
  return el;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleString();
}

export function duration(seconds) {
  if (seconds == null) return "—";
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), hrs = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${m}m`;
  return m ? `${m}m ${s % 60}s` : `${s}s`;
}

export function bytes(n) {
  if (n == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

let toastTimer;
export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 4000);
}

/** Ask before acting; resolves to {ok, option} (option: the checkbox, when one was offered). */
export function confirmAction(text, { option = null, okLabel = "Confirm" } = {}) {
  const dialog = document.getElementById("confirm-dialog");
  dialog.querySelector("[data-testid=confirm-text]").textContent = text;
  dialog.querySelector("[data-testid=confirm-ok]").textContent = okLabel;
  const label = dialog.querySelector(".option");
  const box = label.querySelector("input");
  label.hidden = !option;
  box.checked = false;
  label.querySelector("span").textContent = option || "";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve({ ok: dialog.returnValue === "ok", option: box.checked }), { once: true });
  });
}

/** Run a command request and tell the user how it went. */
export async function runCommand(promise, what) {
  try {
    const { status, data } = await promise;
    if (data.status === "error") toast(`${what}: failed — ${data.error}`);
    else toast(status === 202 ? `${what}: queued` : `${what}: done`);
    return data;
  } catch (err) {
    toast(`${what}: ${err.message}`);
    return null;
  }
}
