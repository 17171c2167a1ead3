"""Results: the JSON file under ``bench/results/`` and the generated part of
``docs/BENCHMARKS.md`` (between the ``bench:begin`` / ``bench:end`` markers; the prose around
it is written by hand and kept)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(int(mem) / 1024**2, 1),
            "kernel": platform.release(), "python": platform.python_version()}  # fmt: skip


def _tool_version(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else None


def versions() -> dict[str, Any]:
    import sqlite3

    out: dict[str, Any] = {p: _pkg(p) for p in ("qbitrr-mqtt", "sqlalchemy", "sqlmodel", "paho-mqtt",
                                                 "aiohttp", "qbittorrent-api", "requests", "supervisor")}  # fmt: skip
    out["sqlite"] = sqlite3.sqlite_version
    out["qbittorrent-nox"] = _tool_version(["qbittorrent-nox", "--version"])
    out["mosquitto"] = _mosquitto()
    try:
        out["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                    capture_output=True, text=True).stdout.strip()  # fmt: skip
    except OSError:
        out["git"] = None
    return out


def _pkg(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _mosquitto() -> str | None:
    for cmd in (["mosquitto", "-h"], ["/usr/sbin/mosquitto", "-h"]):
        if shutil.which(cmd[0]):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            m = re.search(r"version (\S+)", done.stdout + done.stderr)
            return m.group(1) if m else None
    return None


def write_results(results: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    suffix = "-smoke" if results["params"].get("smoke") else ""
    path = directory / f"{stamp}{suffix}.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    return path


# --- the Markdown table ------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}" if value != int(value) else f"{int(value)}"
    return str(value)


def _mmm(s: dict[str, Any] | None, digits: int = 1) -> str:
    if not s or s.get("median") is None:
        return "–"
    lo, med, hi = (_fmt(s[k], digits) for k in ("min", "median", "max"))
    return med if lo == hi else f"{med} ({lo}–{hi})"


STEADY_ROWS = [
    ("idle cycle: wall ms", "idle.wall_ms"), ("idle cycle: CPU ms", "idle.cpu_ms"),
    ("idle cycle: qBittorrent requests", "idle.qbit_requests"),
    ("idle cycle: qBittorrent bytes", "idle.qbit_bytes"),
    ("idle cycle: Arr requests", "idle.arr_requests"), ("idle cycle: Arr bytes", "idle.arr_bytes"),
    ("idle cycle: SQL statements", "idle.sql_statements"),
    ("idle cycle: SQL writes", "idle.sql_writes"),
    ("idle cycle: MQTT messages", "idle.mqtt_messages"),
    ("change cycle (10 torrents): worst CPU ms", "change.cpu_ms"),
    ("change cycle: wall ms", "change.wall_ms"), ("change cycle: SQL writes", "change.sql_writes"),
    ("change cycle: MQTT messages", "change.mqtt_messages"),
    ("cold first cycle: wall ms", "cold.wall_ms"), ("cold first cycle: CPU ms", "cold.cpu_ms"),
    ("cold first cycle: qBittorrent requests", "cold.qbit_requests"),
    ("cold first cycle: qBittorrent bytes", "cold.qbit_bytes"),
    ("cold first cycle: SQL statements", "cold.sql_statements"),
    ("cold first cycle: MQTT messages", "cold.mqtt_messages"),
    ("manager RSS after 20 cycles, MB", "rss_mb"),
    ("between cycles: SQL statements per minute (inbox polls)", "wait_sql_per_min"),
    ("between cycles: CPU ms per minute", "wait_cpu_ms_per_min"),
]  # fmt: skip


def markdown(results: dict[str, Any]) -> str:
    p, m, v = results["params"], results["machine"], results["versions"]
    lines = [
        f"Run of {results['date']} (`{results['command']}`), git {v.get('git')}; "
        f"{p['repeats']} repeat(s), min/median/max over repeats shown as `median (min–max)`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}. Versions: qbittorrent-nox {v.get('qbittorrent-nox')}, "
        f"Mosquitto {v.get('mosquitto')}, SQLite {v.get('sqlite')}, SQLAlchemy "
        f"{v.get('sqlalchemy')}, paho-mqtt {v.get('paho-mqtt')}, aiohttp {v.get('aiohttp')}, "
        f"supervisor {v.get('supervisor')}.",
        "",
    ]
    if results.get("notes"):
        lines += [*(f"- {n}" for n in results["notes"]), ""]
    steady = results.get("steady") or []
    if steady:
        lines += ["### 1. Steady state, one instance", ""]
        lines.append("| figure | " + " | ".join(f"N = {s['n']:,}" for s in steady) + " |")
        lines.append("|---|" + "---:|" * len(steady))
        for label, key in STEADY_ROWS:
            lines.append(
                f"| {label} | " + " | ".join(_mmm(s["summary"].get(key)) for s in steady) + " |"
            )
        lines.append("| mix (seeding / stalled / missing / downloading) | " + " | ".join(
            "{seeding} / {stalled} / {missing_files} / {downloading}".format(**s["mix"]) for s in steady) + " |")  # fmt: skip
        lines.append("")
    g = results.get("growth") or {}
    if g:
        lines += ["### 5. Growth", "", "| N | cold cycle CPU ms | idle cycle CPU ms | change cycle CPU ms | RSS MB |",
                  "|---:|---:|---:|---:|---:|"]  # fmt: skip
        for pt in g["points"]:
            lines.append(f"| {pt['n']:,} | {_fmt(pt['cold.cpu_ms'])} | {_fmt(pt['idle.cpu_ms'])} | "
                         f"{_fmt(pt['change.cpu_ms'])} | {_fmt(pt['rss_mb'])} |")  # fmt: skip
        lines += ["", f"N grew {g['n_ratio']:.0f}×: cold-cycle CPU {_fmt(g.get('cold.cpu_ms.ratio'), 2)}×, "
                  f"idle-cycle CPU {_fmt(g.get('idle.cpu_ms.ratio'), 2)}×, RSS {_fmt(g.get('rss_mb.ratio'), 2)}× "
                  f"({_fmt(g.get('rss_mb_per_1k_torrents'), 2)} MB per 1,000 torrents).", ""]  # fmt: skip
    st = results.get("stack")
    if st:
        s = st["summary"]
        lines += [f"### 2–4. Whole stack (4 instances, {st['n']:,} torrents in the watched category, "
                  f"check interval {st['check_interval']} s)", "", "| figure | value |", "|---|---:|"]  # fmt: skip
        for label, key in (
            ("stack RSS total after an idle minute, MB (supervisord, 4 managers, bridge, WebUI, `run` wrapper)", "rss_total_mb"),
            ("stack RSS total at the start of that minute, MB (repeats 2+: just after the previous repeat's API load)", "rss_start_mb"),
            ("stack PSS total, MB (the same, shared library pages counted once)", "pss_total_mb"),
            ("stack CPU seconds per idle minute", "idle_cpu_s_per_min"),
            ("MQTT run_now request → response p95, s", "mqtt.run_now.p95_s"),
            ("MQTT search request → response p95, s", "mqtt.search.p95_s"),
            ("HTTP restart → new pid p95, s", "restart.p95_s"),
            ("stall threshold → blocklist call, s (median of the samples)", "stall.seconds"),
            ("stall threshold → blocklist call, s (worst sample)", "stall.max_s"),
            ("stall threshold → blocklist call, check intervals (median of the samples)", "stall.intervals"),
            ("stall threshold → blocklist call, check intervals (worst sample)", "stall.intervals_max"),
            ("download complete → import command, s", "import.seconds"),
            ("`/api/v1/torrents?limit=100` p50 ms, 50 clients polling 1/s", "api.torrents_paced.p50_ms"),
            ("`/api/v1/torrents?limit=100` p95 ms, 50 clients polling 1/s", "api.torrents_paced.p95_ms"),
            ("`/api/v1/torrents?limit=100` p95 ms, 50 clients back to back", "api.torrents.p95_ms"),
            ("`/api/v1/torrents?limit=100` requests/s, back to back (throughput)", "api.torrents.rps"),
            ("`/api/v1/processes` p50 ms, 50 clients polling 1/s", "api.processes_paced.p50_ms"),
            ("`/api/v1/processes` p95 ms, 50 clients polling 1/s", "api.processes_paced.p95_ms"),
            ("`/api/v1/processes` p95 ms, 50 clients back to back", "api.processes.p95_ms"),
            ("`/api/v1/processes` requests/s, back to back", "api.processes.rps"),
            ("SSE: 100 clients, share of actions delivered", "sse.delivered"),
            ("SSE: journal → client p95 ms", "sse.p95_ms"),
        ):  # fmt: skip
            lines.append(f"| {label} | {_mmm(s.get(key), 2)} |")
        rss = st["runs"][-1].get("rss_by_process_mb", {})
        if rss:
            lines += ["", "RSS by process (last repeat), MB: " + ", ".join(
                f"{_short(k)} {val:.1f}" for k, val in sorted(rss.items(), key=lambda kv: -kv[1]))]  # fmt: skip
        pss = st["runs"][-1].get("pss_by_process_mb", {})
        if pss:
            lines += ["", "PSS by process (last repeat), MB: " + ", ".join(
                f"{_short(k)} {val:.1f}" for k, val in sorted(pss.items(), key=lambda kv: -kv[1]))]  # fmt: skip
        lines.append("")
    budgets = results.get("budgets") or []
    if budgets:
        lines += ["### Budgets", "", "| budget | measured (median) | met |", "|---|---:|:---:|"]
        for b in budgets:
            met = "–" if b["ok"] is None else ("yes" if b["ok"] else "**no**")
            worst = f" (max {_fmt(b['max'], 2)})" if b.get("max") is not None else ""
            lines.append(f"| {b['budget']} | {_fmt(b['measured'], 2)}{worst} | {met} |")
        lines.append("")
    return "\n".join(lines)


def _short(process: str) -> str:
    """``python manager radarr /tmp/.../config.yaml[123]`` → ``manager radarr``."""
    words = [w for w in process.rsplit("[", 1)[0].split() if "/" not in w and w != "python"]
    if any("supervisord" in w for w in process.split()):
        return "supervisord"
    return " ".join(words) or process


def update_doc(results: dict[str, Any], doc: Path = DOC) -> None:
    """Replace the generated block of BENCHMARKS.md (create the file around it if needed)."""
    block = f"{BEGIN}\n{markdown(results)}\n{END}"
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    doc.write_text(head + block + tail)
