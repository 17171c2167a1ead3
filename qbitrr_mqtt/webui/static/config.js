// Config: edit the YAML file (secrets show as *** and stay unchanged when left so),
// validate, save. Problems from the server's 422 answer are marked at their line and listed
// with their key path; clicking one puts the cursor on that line.
import { api } from "./api.js";
import { clear, h, toast } from "./dom.js";

export function mount(root) {
  const text = h("textarea", { spellcheck: "false", "data-testid": "config-editor", "aria-label": "Config file (YAML)", wrap: "off" });
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const marks = h("div", { class: "marks", "aria-hidden": "true" });
  const problems = h("ul", { class: "problems", "data-testid": "config-problems" });
  const result = h("p", { "data-testid": "config-result" });
  const path = h("span", { class: "muted" });
  const validate = h("button", { type: "button", "data-testid": "config-validate" }, "Validate");
  const save = h("button", { type: "button", class: "primary", "data-testid": "config-save" }, "Save");
  root.append(
    h("h2", {}, "Config"),
    h("div", { class: "toolbar" }, validate, save, path),
    result,
    problems,
    h("div", { class: "editor" }, gutter, h("div", { class: "code" }, marks, text)),
  );
  let bad = new Map(); // line → messages

  function paint() {
    const lines = text.value.split("\n");
    text.rows = lines.length + 1;
    clear(gutter, lines.map((_, i) => h("div", { class: bad.has(i + 1) ? "bad" : "", title: bad.get(i + 1)?.join("\n") }, i + 1)));
    clear(marks, lines.map((line, i) => h("div", { class: bad.has(i + 1) ? "bad" : "", "data-testid": bad.has(i + 1) ? "config-line-error" : null, "data-line": i + 1 }, line || " ")));
  }

  function goTo(line) {
    if (!line) return;
    const before = text.value.split("\n").slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    text.focus();
    text.setSelectionRange(before, before);
    marks.children[line - 1]?.scrollIntoView({ block: "center" });
  }

  function show(list) {
    bad = new Map();
    for (const p of list) if (p.line) bad.set(p.line, [...(bad.get(p.line) || []), `${p.path}: ${p.message}`]);
    clear(problems, list.map((p) => h("li", { "data-testid": "config-problem", "data-path": p.path, "data-line": p.line ?? "", onclick: () => goTo(p.line) },
      h("code", {}, p.path || "(file)"), p.line ? h("span", { class: "muted" }, ` line ${p.line}`) : null, ": ", p.message,
      p.expected ? h("div", { class: "muted" }, `expected ${p.expected}`) : null)));
    paint();
  }

  async function submit(validateOnly) {
    result.textContent = "";
    result.className = "";
    try {
      const { data } = await api(`config${validateOnly ? "?validate_only=true" : ""}`, { method: "PUT", body: { yaml: text.value } });
      show([]);
      const restart = data.restart_required.length ? `Restart needed: ${data.restart_required.join(", ")}.` : "No restart needed.";
      const reload = data.supervisor_reload ? " Programs were added, removed or their limits changed: restart qbitrr-mqtt run to apply." : "";
      result.textContent = `${validateOnly ? "Valid." : "Saved."} ${data.changed.length} change(s). ${restart}${reload}`;
      toast(validateOnly ? "The config is valid" : "Config saved");
    } catch (err) {
      result.className = "error";
      result.textContent = err.message;
      show(err.problems || []);
    }
  }

  text.addEventListener("input", paint);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Tab") {
      event.preventDefault();
      text.setRangeText("  ", text.selectionStart, text.selectionEnd, "end");
      paint();
    }
  });
  validate.onclick = () => submit(true);
  save.onclick = () => submit(false);
  api("config").then(({ data }) => {
    text.value = data.yaml;
    path.textContent = data.path ? `${data.path}${data.writable ? "" : " (read-only)"}` : "no config file (read-only)";
    save.disabled = !data.path || !data.writable;
    paint();
  }).catch((err) => { result.className = "error"; result.textContent = err.message; });
}
