"""qbitrr-mqtt: torrent-queue health manager for qBittorrent and the *arr apps."""

__version__ = "0.1.0"
