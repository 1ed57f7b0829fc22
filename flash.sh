#!/usr/bin/env bash
# Put sipdoor on a board. The real work (esptool, mpremote, ssh + systemd)
# arrives with the flashing issue; until then this prints the usage.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage:
  ./flash.sh esp32 --board NAME --port /dev/ttyUSB0 [--firmware micropython.bin] [--erase] [--config config.json]
  ./flash.sh pi --host user@door.local [--board NAME] [--config config.json]
  ./flash.sh pi --root DIR [--board NAME] [--config config.json]
options:
  --dry-run   print every command without running it
Boards are the files in boards/ (see boards/README.md).
USAGE
}

case "${1:-}" in
  -h|--help|"") usage; exit 0 ;;
  *) usage >&2; echo "flash.sh: flashing is not implemented yet" >&2; exit 2 ;;
esac
