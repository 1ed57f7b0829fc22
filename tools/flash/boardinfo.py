#!/usr/bin/env python3
"""What flash.sh needs to know about a board, as shell assignments.

    boardinfo.py BOARD [CONFIG]

BOARD is a name from boards/ or a path to a .json file. The board (and the
config, when given) are checked with the firmware's own validators; any
problem is one line on stderr and exit 1.
"""

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor import board as boards  # noqa: E402
from sipdoor import config as configs  # noqa: E402
from sipdoor.schema import ConfigError  # noqa: E402


def main(argv):
    name = argv[0]
    dirs = [os.path.join(ROOT, "boards")]
    path = boards.find(name, dirs)
    if path is None or not os.path.exists(path):
        known = sorted(n[:-5] for n in os.listdir(dirs[0]) if n.endswith(".json"))
        print("unknown board %r (known: %s)" % (name, ", ".join(known)), file=sys.stderr)
        return 1
    try:
        b, _ = boards.validate(boards.load_json(path), path)
        if len(argv) > 1:
            config = configs.load(argv[1])
            configs.check_against_board(config, b, argv[1])
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    mp = b["micropython"] or {}
    out = {
        "board_path": os.path.abspath(path),
        "board_name": os.path.basename(path)[:-5],
        "board_platform": b["platform"],
        "board_chip": b["chip"] or ("esp32" if b["platform"] == "esp32" else ""),
        "board_image": mp.get("image", ""),
        "board_version": mp.get("version", ""),
        "board_mip": " ".join(mp.get("mip", [])),
        "board_watchdog": str(b["watchdog_s"]),
        "board_psram": b["psram"],
    }
    for key in sorted(out):
        print("%s=%s" % (key, shlex.quote(out[key])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
