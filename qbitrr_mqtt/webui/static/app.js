// The page shell: asks for the token once, routes #hash → view, keeps one live event stream
// (actions and process changes) that the views subscribe to.
import { api, setUnauthorizedHandler, stream, token } from "./api.js";
import * as processes from "./processes.js";
import * as instances from "./instances.js";
import * as torrents from "./torrents.js";
import * as actions from "./actions.js";
import * as logs from "./logs.js";
import * as config from "./config.js";

const VIEWS = { processes, instances, torrents, actions, logs, config };
const listeners = new Set();

/** Subscribe to live events: fn(name, data); returns the unsubscribe function. */
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let unmount = null;
let events = null;

function render() {
  const name = location.hash.slice(1) || "processes";
  const view = VIEWS[name] || processes;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === `#${name}`));
  if (unmount) unmount();
  const root = document.getElementById("view");
  root.replaceChildren();
  root.dataset.view = name;
  unmount = view.mount(root, { onEvent }) || null;
}

function liveStatus(on) {
  const el = document.querySelector("[data-testid=live-status]");
  el.textContent = on ? "live" : "offline";
  el.classList.toggle("on", on);
}

async function followEvents() {
  if (events) events.abort();
  const controller = (events = new AbortController());
  while (!controller.signal.aborted) {
    try {
      await stream("events", (name, data) => listeners.forEach((fn) => fn(name, data)), controller.signal, () => liveStatus(true));
    } catch (err) {
      if (controller.signal.aborted || err.status === 401) break;
    }
    liveStatus(false);
    await new Promise((r) => setTimeout(r, 3000));
  }
  liveStatus(false);
}

function askToken(message = "") {
  const dialog = document.getElementById("token-dialog");
  dialog.querySelector("[data-testid=token-error]").textContent = message;
  if (!dialog.open) dialog.showModal();
}

async function tryToken(value) {
  token.set(value);
  try {
    await api("processes");
  } catch (err) {
    if (err.status === 401) {
      token.clear();
      askToken("That token was refused.");
      return;
    }
  }
  document.getElementById("token-dialog").close();
  start();
}

function start() {
  render();
  followEvents();
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = event.target.elements.token.value.trim();
  if (value) tryToken(value);
});
document.getElementById("token-dialog").addEventListener("cancel", (event) => event.preventDefault());
document.querySelector("[data-testid=forget-token]").addEventListener("click", () => {
  token.clear();
  if (events) events.abort();
  askToken();
});
setUnauthorizedHandler(() => {
  if (events) events.abort();
  token.clear();
  askToken("The token was refused; enter it again.");
});
window.addEventListener("hashchange", render);

if (token.get()) start();
else askToken();
