"""What ``qbitrr-mqtt run`` becomes once supervisord is started: a bare interpreter that
forwards signals to supervisord and exits with its exit code.

``run_stack(..., exec_waiter=True)`` starts supervisord as its child, blocks the forwarded
signals and ``exec``s ``python -I -S waiter.py run --pid=<supervisord>``: the same process
(pid, parent, session, the child) without the config, typer, yaml and supervisor modules the
start needed (~9 MB instead of ~40). Signals that arrive during the ``exec`` stay pending
(the blocked mask survives it) and are forwarded once the handlers below are in place.

It uses only the standard library's builtin modules and is run by path with ``-S``: it must
not import qbitrr_mqtt. Forwarding is as in :func:`qbitrr_mqtt.supervisor.run.run_stack`:
SIGINT as SIGINT, SIGTERM / SIGHUP / SIGQUIT as SIGTERM (supervisord would take SIGHUP as
"reload").
"""

import contextlib
import os
import signal
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def main(argv: list[str]) -> int:
    pids = [a.removeprefix("--pid=") for a in argv if a.startswith("--pid=")]
    if len(pids) != 1 or not pids[0].isdigit():
        print("usage: waiter.py run --pid=<supervisord pid>", file=sys.stderr)
        return 2
    pid = int(pids[0])
    reaped = False

    def forward(signum: int, _frame: object) -> None:
        if not reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    try:
        _, status = os.waitpid(pid, 0)  # retried after each handler (PEP 475)
    except ChildProcessError:
        print(f"qbitrr-mqtt: supervisord (pid {pid}) is not this process's child", file=sys.stderr)
        return 1
    reaped = True
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
