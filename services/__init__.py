"""External services the stack and its tests run against (Arr emulator, broker and qBittorrent runners)."""
