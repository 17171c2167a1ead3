"""``python -m qbitrr_mqtt`` runs the CLI. supervisord's programs use this form; their three
command lines (manager, bridge, webui) start without loading typer (see launch.py)."""

from .launch import main

main()
