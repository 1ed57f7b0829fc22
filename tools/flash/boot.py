# ESP32 boot (put here by flash.sh): join Wi-Fi from wifi.json if present,
# and give main.py its command line from argv.json (the board has no shell).
import json
import sys

try:
    with open("argv.json") as f:
        args = json.load(f)
    sys.argv.clear()
    sys.argv.extend(args)
except (OSError, ValueError):
    pass

try:
    with open("wifi.json") as f:
        wifi = json.load(f)
except (OSError, ValueError):
    wifi = None

if wifi:
    import time

    import network

    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if not sta.isconnected():
        print("boot: joining Wi-Fi %s" % wifi["ssid"])
        sta.connect(wifi["ssid"], wifi["password"])
        for _ in range(150):
            if sta.isconnected():
                break
            time.sleep_ms(100)
    print("boot: Wi-Fi %s" % (sta.ifconfig()[0] if sta.isconnected() else "not connected"))
