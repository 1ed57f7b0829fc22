# MicroPython manifest: freeze the sipdoor package into a firmware image, so
# its bytecode runs from flash and only runtime objects use the heap (an ESP32
# without PSRAM has ~110 KB of heap; the station as .mpy files needs ~250 KB).
#
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/sipdoor/tools/freeze/manifest.py
#
# See README.md beside this file. Relative paths are relative to this file.

# What the port freezes by default (asyncio, network helpers, neopixel, ...).
include("$(PORT_DIR)/boards/manifest.py")

# firmware/sipdoor/ becomes the frozen package `sipdoor` (every .py in it).
# firmware/main.py is not frozen: flash.sh copies it, it is what boots.
package("sipdoor", base_path="../../firmware")
