"""sipdoor: SIP door-intercom firmware for CPython and MicroPython."""
VERSION = "0.1.0"
