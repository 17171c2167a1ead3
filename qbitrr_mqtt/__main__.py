"""``python -m qbitrr_mqtt`` runs the CLI (supervisord programs use this form)."""

from .cli import main

main()
