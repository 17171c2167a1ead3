"""supervisord is reachable only through a unix socket of mode 0700, never over TCP.

The rendered configuration is read with configparser (as supervisord reads it), and the live
supervisord of a real stack is inspected: the socket file's mode and owner, and every socket
the supervisord process holds, looked up in /proc/net against the TCP tables.
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_stack import Stack, make_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with make_stack() as s:
        s.instance("a")
        s.start()
        yield s


def rendered(stack: Stack) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";",))
    parser.read(stack.where.conf)
    return parser


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    return inodes


def tcp_inodes() -> dict[str, str]:
    """inode -> local address of every TCP socket on this host (IPv4 and IPv6)."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                out[fields[9]] = fields[1]
    return out


def test_rendered_config_has_only_a_private_unix_socket(stack: Stack) -> None:
    conf = rendered(stack)
    assert conf.has_section("unix_http_server")
    assert conf.get("unix_http_server", "chmod") == "0700"
    assert Path(conf.get("unix_http_server", "file")) == stack.where.socket
    assert not conf.has_section("inet_http_server")
    assert not [s for s in conf.sections() if s.startswith("inet_http_server")]
    # supervisorctl and our client talk to the same socket
    assert conf.get("supervisorctl", "serverurl") == f"unix://{stack.where.socket}"
    included = conf.get("include", "files")
    for path in Path(stack.where.conf).parent.glob("*.conf"):
        text = path.read_text()
        assert "[inet_http_server" not in text, (path, included)


def test_live_socket_mode_and_owner(stack: Stack) -> None:
    st = os.stat(stack.where.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.getuid()


def test_supervisord_holds_no_tcp_socket(stack: Stack) -> None:
    assert stack.proc is not None
    held = socket_inodes(stack.proc.pid)
    assert held, "supervisord holds no socket at all?"
    tcp = tcp_inodes()
    assert not held & set(tcp), {i: tcp[i] for i in held & set(tcp)}
    # and the unix socket it listens on is ours (bound under a temporary name, then renamed)
    with open("/proc/net/unix") as handle:
        rows = [line.split() for line in list(handle)[1:]]
    names = {row[6]: row[7] for row in rows if len(row) >= 8}
    sock = str(stack.where.socket)
    assert any(names[i] == sock or names[i].startswith(sock + ".") for i in held if i in names)
