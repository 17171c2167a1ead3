"""The bridge: supervisord process events, process health, the restart window, MQTT requests.

``events`` is the supervisord event listener (its own program, ``events``), ``health`` the
process health records it writes, ``restart_window`` the pure restart-limit rules it applies.
"""
