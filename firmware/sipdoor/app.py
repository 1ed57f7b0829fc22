"""The door station's behaviour: events in, actions on devices and the SIP UA out.

A pure state machine driven by events (from the hardware, and later from
the SIP user agent); it never touches sockets or the clock directly, so it
runs under test with the mock board and a fake clock.
"""

from sipdoor.hal.base import ButtonPressed, Event


class StationStarted(Event):
    kind = "ready"

    def __init__(self, board, platform, listen, registration):
        self.board = board
        self.platform = platform
        self.listen = listen
        self.registration = registration


class StationStopped(Event):
    kind = "stopped"

    def __init__(self, reason):
        self.reason = reason


class DoorOpened(Event):
    kind = "door_opened"

    def __init__(self, relay, by):
        self.relay = relay
        self.by = by


class App:
    def __init__(self, config, devices, emit, log):
        self.config = config
        self.devices = devices
        self.emit = emit
        self.log = log
        self.status_led = devices.leds.get("status")

    def start(self):
        if self.status_led is not None:
            self.status_led.set_pattern("on")

    def handle(self, ev):
        if isinstance(ev, ButtonPressed):
            button = self.devices.buttons.get(ev.name)
            if button is None:
                return
            if button.role == "exit":
                self.open_door(self.config["door"]["relay"], "exit_button")
            elif ev.name not in self.config["buttons"]:
                self.log.warning("button %r has no targets in the config; nobody is called", ev.name)

    def open_door(self, relay_name, by):
        relay = self.devices.relays.get(relay_name)
        if relay is None:
            self.log.error("no relay %r on this board", relay_name)
            return
        relay.pulse(self.config["door"]["pulse_ms"])
        self.emit(DoorOpened(relay_name, by))

    def stop(self, reason):
        self.devices.all_off()
        self.emit(StationStopped(reason))
