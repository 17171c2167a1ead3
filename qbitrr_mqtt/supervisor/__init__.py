"""supervisord: program rendering, the XML-RPC client and ``qbitrr-mqtt run``.

This package is the only code that speaks XML-RPC to supervisord (``rpc``) and the only one
that knows how the stack's programs are laid out (``render``).
"""

from .rpc import ProcessInfo, SupervisorClient, SupervisorError, SupervisorUnreachable

__all__ = ["ProcessInfo", "SupervisorClient", "SupervisorError", "SupervisorUnreachable"]
