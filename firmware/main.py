"""Start the door station: python3 main.py --config config.json (or micropython).

Kept tiny on purpose: on a board this file stays source (it is what boots),
while the package it starts is compiled to .mpy (station.py wires it all).
"""

import sys

from sipdoor.station import main

sys.exit(main(sys.argv[1:]))
