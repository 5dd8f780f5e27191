#!/usr/bin/env bash
# Calibrate an installed camera on site (docs/jetson.md section 7): stop the daemon (a CSI sensor
# serves one client), run `edgecodec calibrate` on the source of its device.toml, start the daemon
# again. It applies nothing: read OUT/report.html, then apply OUT/device.toml as docs/jetson.md
# section 8 says.
#
#   sudo calibration/run-on-site.sh --budget-kbps 500 --fps 5
#   sudo calibration/run-on-site.sh --budget-kbps 500 --fps 5 --out /root/calib --no-adapt -- --frames 40
#   calibration/run-on-site.sh --dry-run --config devices/x86-dev.toml --budget-kbps 500 --fps 5
#
# --dry-run prints every command and runs none (set EDGECODEC to the edgecodec command to use).
set -euo pipefail

EDGECODEC=${EDGECODEC:-/opt/edgecodec/venv/bin/edgecodec}
UNIT=edgecodec-daemon.service
CONFIG=/etc/edgecodec/device.toml
OUT=/root/calib
BUDGET="" FPS="" SOURCE="" ADAPT=--adapt DRY_RUN=0
EXTRA=()

usage() {
    cat <<EOF
usage: $0 --budget-kbps KBPS --fps FPS [--out DIR] [--config FILE] [--source SRC] [--no-adapt]
          [--dry-run] [-- CALIBRATE-FLAGS...]

  --budget-kbps KBPS  the uplink this camera may spend, in kbit/s
  --fps FPS           the frame rate the daemon will send
  --out DIR           where the outputs go (default $OUT; must not exist yet)
  --config FILE       the daemon's configuration, for its source (default $CONFIG)
  --source SRC        calibrate on SRC instead of the configuration's source
  --no-adapt          do not try scene adaptation of the encoder
  --dry-run           print every command, run none
  -- FLAGS            passed to \`edgecodec calibrate\` (e.g. --frames 40 --model CKPT)
EOF
}

die() { echo "run-on-site: error: $*" >&2; exit 1; }
note() { echo "run-on-site: $*"; }

# Print a command; run it unless --dry-run.
run() {
    echo "+ $*"
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

while [ $# -gt 0 ]; do
    case $1 in
        --budget-kbps) BUDGET=${2:?--budget-kbps needs a value}; shift 2 ;;
        --fps) FPS=${2:?--fps needs a value}; shift 2 ;;
        --out|-o) OUT=${2:?--out needs a value}; shift 2 ;;
        --config) CONFIG=${2:?--config needs a value}; shift 2 ;;
        --source) SOURCE=${2:?--source needs a value}; shift 2 ;;
        --no-adapt) ADAPT=""; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument $1" ;;
    esac
done
if [ -z "$BUDGET" ] || [ -z "$FPS" ]; then usage >&2; die "--budget-kbps and --fps are required"; fi
[ -e "$OUT" ] && die "$OUT exists: move it away or pass --out DIR (this script never writes into an existing folder)"

if [ -z "$SOURCE" ]; then
    [ -r "$CONFIG" ] || die "cannot read $CONFIG: pass --config FILE or --source SRC"
    # The daemon's own reading of the file: TOML escapes, else the [device.capture] preset's source.
    SOURCE=$("$(dirname "$(command -v "$EDGECODEC")")/python" - "$CONFIG" <<'EOF'
import sys
from edgecodec.common.config import read_toml
from edgecodec.edge.profile import preset_source
data = read_toml(sys.argv[1])
print(data.get("source") or preset_source(data.get("device")))
EOF
) || die "cannot read the source of $CONFIG"
    [ -n "$SOURCE" ] || die "$CONFIG has no source: pass --source SRC"
fi

WAS_ACTIVE=0
if command -v systemctl >/dev/null && systemctl is-active --quiet "$UNIT" 2>/dev/null; then
    WAS_ACTIVE=1
    run systemctl stop "$UNIT"
    trap 'run systemctl start "$UNIT"' EXIT   # the daemon comes back whatever calibrate does
fi

STATUS=0
run "$EDGECODEC" calibrate --source "$SOURCE" --out "$OUT" --budget-kbps "$BUDGET" --fps "$FPS" \
    ${ADAPT:+"$ADAPT"} "${EXTRA[@]}" || STATUS=$?
[ "$DRY_RUN" = 1 ] && exit 0
case $STATUS in
    0) note "done: read $OUT/report.html, then apply $OUT/device.toml (docs/jetson.md section 8)" ;;
    3) note "BUDGET NOT MET: $OUT is written with the lowest quality; lower --fps or raise the budget" ;;
    *) note "calibrate failed (exit status $STATUS): nothing was written" ;;
esac
[ "$WAS_ACTIVE" = 1 ] && note "the daemon is started again with its old configuration"
exit "$STATUS"
