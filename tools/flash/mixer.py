#!/usr/bin/env python3
"""Set a board's ALSA mixer controls (audio.mixer) with amixer.

    mixer.py BOARD.json

Run by the systemd unit before the station starts. The sound card is the
one whose name contains the board's audio.output. A control that fails is
reported and skipped; a board without a mixer list does nothing.
"""

import json
import subprocess
import sys


def card_index(name):
    """The ALSA card number whose id or name contains `name`, or None."""
    try:
        with open("/proc/asound/cards") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        head = line.split("]")[0] if "]" in line else ""
        if name and name.lower() in line.lower() and head.strip().split(" ")[0].isdigit():
            return head.strip().split(" ")[0]
    return None


def main(argv):
    with open(argv[0]) as f:
        audio = json.load(f).get("audio", {})
    controls = audio.get("mixer", [])
    if not controls:
        return 0
    card = card_index(audio.get("output") or "")
    if card is None:
        print("mixer: no sound card named %r: controls not set" % audio.get("output"), file=sys.stderr)
        return 1
    failed = 0
    for c in controls:
        proc = subprocess.run(["amixer", "-q", "-c", card, "sset", c["control"], c["value"]],
                              capture_output=True, text=True)
        if proc.returncode:
            failed += 1
            print("mixer: %s = %s: %s" % (c["control"], c["value"], proc.stderr.strip()), file=sys.stderr)
    print("mixer: card %s: %d controls set, %d failed" % (card, len(controls) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
