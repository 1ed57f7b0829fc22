# sipdoor: every target installs what it needs first (tools/setup.sh).
#   make run     the door station on this PC (simulated board)
#   make test    the whole test suite (CPython and MicroPython, real peers)
#   make bench   performance figures
#   make mpy     cross-compile firmware/ to build/mpy/ with mpy-cross
#   make demo    a whole scripted door call on 127.0.0.1 (station + tools/sipcall)
VENV   := .venv
PY     := $(VENV)/bin/python
CONFIG ?= config.json
ARGS   ?=

.PHONY: run test bench mpy flash clean setup-run setup-test demo

setup-run:
	@tools/setup.sh run

setup-test:
	@tools/setup.sh test

$(CONFIG):
	cp firmware/config.example.json $(CONFIG)
	@echo "created $(CONFIG) from firmware/config.example.json: edit it to set up the station"

run: setup-run $(CONFIG)
	$(PY) firmware/main.py --config $(CONFIG) $(ARGS)

test: setup-test
	$(PY) -m pytest -q tests

bench: setup-test
	@set -e; found=0; for b in tests/bench/bench_*.py; do \
	  [ -e "$$b" ] || continue; case "$$b" in *_mp.py) continue;; esac; \
	  found=1; echo "== $$b"; $(PY) "$$b"; done; \
	  [ $$found = 1 ] || echo "no benchmarks yet"

mpy: setup-test
	$(PY) tools/mpy.py build/mpy

flash:
	./flash.sh $(ARGS)

clean:
	rm -rf build .pytest_cache

# A scripted door call on 127.0.0.1: the station (sim board) and tools/sipcall
# as the flat's phone; prints the timeline and fails unless every step happened.
demo: setup-run
	$(PY) tools/demo.py $(ARGS)
