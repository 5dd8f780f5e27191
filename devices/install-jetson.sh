#!/usr/bin/env bash
# Install the edgecodec camera daemon on an NVIDIA Jetson (or remove it with --uninstall).
#
#   sudo devices/install-jetson.sh --profile orin-nano-8gb --server https://nvr.example.org \
#        --device-id gate-1 --token-file /root/gate-1.token
#   devices/install-jetson.sh --dry-run --profile orin-nano-8gb --server URL --device-id ID < token
#   sudo devices/install-jetson.sh --uninstall [--purge]
#
# --dry-run prints every action and executes none: files it would install are rendered into a
# temporary directory and shown (the token never is). It runs on any machine; set
# EDGECODEC_PYTHON to a Python that can import edgecodec (the repository's .venv) to render them.
# See docs/jetson.md.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/opt/edgecodec
VENV=$PREFIX/venv
ETC=/etc/edgecodec
STATE=/var/lib/edgecodec
UNIT=edgecodec-daemon.service
UNIT_PATH=/etc/systemd/system/$UNIT
SERVICE_USER=edgecodec
NV_TEGRA_RELEASE=${NV_TEGRA_RELEASE:-/etc/nv_tegra_release}   # L4T's release file (tests point elsewhere)

DRY_RUN=0 UNINSTALL=0 PURGE=0
PROFILE="" SERVER="" DEVICE_ID="" TOKEN_FILE="" ASSUME_JETPACK="" MODEL="" TORCH_WHEEL="" JETPACK=""

profiles() {
    local file names=()
    for file in "$SRC"/devices/*.toml; do
        file=${file##*/}
        names+=("${file%.toml}")
    done
    echo "${names[*]}"
}

usage() {
    cat <<EOF
usage: $0 --profile NAME --server URL --device-id ID [--token-file FILE] [--model CKPT]
          [--torch-wheel WHEEL] [--assume-jetpack VERSION] [--dry-run]
       $0 --uninstall [--purge] [--dry-run]

  --profile NAME          devices/NAME.toml: $(profiles)
  --server URL            the ingest server, e.g. https://nvr.example.org
  --device-id ID          this camera's id (its token must be for this id)
  --token-file FILE       the device token (default: read from stdin)
  --model CKPT            checkpoint for the daemon and the engines (int8 needs a QAT/calibrated one)
  --torch-wheel WHEEL     JetPack's PyTorch wheel (pip's aarch64 torch has no CUDA)
  --assume-jetpack V      skip detection and take JetPack V (testing)
  --dry-run               print every action, execute none
  --uninstall             stop and remove the service, user, venv and config; keep the spool
  --purge                 with --uninstall: also remove $STATE (unsent frames and the sequence state)
EOF
}

die() { echo "install-jetson: error: $*" >&2; exit 1; }
note() { echo "install-jetson: $*"; }

# Print a command; run it unless --dry-run.
run() {
    echo "+ $(printf '%q ' "$@")"
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --profile) PROFILE=${2:?--profile needs a name}; shift ;;
            --server) SERVER=${2:?--server needs a URL}; shift ;;
            --device-id) DEVICE_ID=${2:?--device-id needs an id}; shift ;;
            --token-file) TOKEN_FILE=${2:?--token-file needs a file}; shift ;;
            --model) MODEL=${2:?--model needs a checkpoint}; shift ;;
            --torch-wheel) TORCH_WHEEL=${2:?--torch-wheel needs a wheel}; shift ;;
            --assume-jetpack) ASSUME_JETPACK=${2:?--assume-jetpack needs a version}; shift ;;
            --dry-run) DRY_RUN=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --purge) PURGE=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument $1" ;;
        esac
        shift
    done
}

# The edgecodec that renders files: the installed venv's, or under --dry-run EDGECODEC_PYTHON's.
ec() {
    if [ "$DRY_RUN" = 1 ]; then
        "${EDGECODEC_PYTHON:-python3}" -m edgecodec "$@"
    else
        "$VENV/bin/edgecodec" "$@"
    fi
}

# JetPack release of this board: nvidia-jetpack's version, else derived from the L4T release.
detect_jetpack() {
    if [ -n "$ASSUME_JETPACK" ]; then echo "$ASSUME_JETPACK"; return; fi
    local version l4t revision
    version=$(dpkg-query -W -f='${Version}' nvidia-jetpack 2>/dev/null || true)
    if [ -n "$version" ]; then echo "${version%%[+-]*}"; return; fi
    [ -r "$NV_TEGRA_RELEASE" ] || return 0
    # "# R36 (release), REVISION: 4.3, ..." is L4T 36.4.3 = JetPack 6.2
    l4t=$(sed -n 's/^# R\([0-9]*\) (release).*/\1/p' "$NV_TEGRA_RELEASE")
    revision=$(sed -n 's/^# R[0-9]* (release), REVISION: \([0-9.]*\),.*/\1/p' "$NV_TEGRA_RELEASE")
    case "$l4t:$revision" in
        36:4.[3-9]*) echo 6.2 ;;
        36:4.*) echo 6.1 ;;
        36:*) echo 6.0 ;;
        35:*) echo 5 ;;
        38:*) echo 7 ;;    # JetPack 7.x; the minor needs nvidia-jetpack
        *) echo "of L4T R$l4t.$revision" ;;
    esac
}

# Is JetPack $1 (6.2, or only 7 when the minor is unknown) among the profile's releases ($2)?
jetpack_supported() {
    local release
    for release in $2; do
        case "$1" in "$release"|"$release".*) return 0 ;; esac
        if [[ "$1" != *.* && "$release" == "$1".* ]]; then return 0; fi
    done
    return 1
}

# Before anything changes: JetPack 6.1 or newer (TensorRT 10, IPluginV3); off a Jetson only --dry-run goes on.
check_jetpack() {
    JETPACK=$(detect_jetpack)
    if [ -z "$JETPACK" ]; then
        [ "$DRY_RUN" = 1 ] || die "not a Jetson: no $NV_TEGRA_RELEASE and no nvidia-jetpack package"
        note "JetPack: not detected (not a Jetson); a real install stops here"
        return
    fi
    case "$JETPACK" in
        6.[1-9]*|7|7.*) note "JetPack $JETPACK" ;;
        *) die "JetPack $JETPACK is not supported: edgecodec needs JetPack 6.1 or newer (JetPack 5.x and 6.0 ship" \
               "TensorRT 8, which lacks the IPluginV3 plugin interface); flash JetPack 6.2 (Orin) or 7.x (Thor)" ;;
    esac
}

# After the venv exists: the profile is a Jetson profile made for this JetPack.
check_profile() {
    [ "$F_PLATFORM" = jetson ] || die "profile $PROFILE is not a Jetson profile: on a development box run" \
        "\`edgecodec daemon --config devices/$PROFILE.toml\` instead"
    if [ -n "$JETPACK" ] && ! jetpack_supported "$JETPACK" "$F_JETPACK"; then
        die "JetPack $JETPACK does not match profile $PROFILE (made for JetPack $F_JETPACK): pick this board's" \
            "profile, or flash one of those releases"
    fi
}

# Read the profile's build facts (KEY=VALUE lines of `edgecodec doctor --print install-env`).
read_facts() {
    local facts key value
    facts=$(ec doctor --config "$1" --print install-env) || die "cannot read profile $1"
    while IFS='=' read -r key value; do
        case "$key" in
            platform) F_PLATFORM=$value ;;
            jetpack) F_JETPACK=$value ;;
            cuda_arch) F_ARCH=$value ;;
            precision) F_PRECISION=$value ;;
            resolution) F_RESOLUTION=$value ;;
            engines) F_ENGINES=$value ;;
            plugin) F_PLUGIN=$value ;;
            spool) F_SPOOL=$value ;;
            token_file) F_TOKEN=$value ;;
        esac
    done <<<"$facts"
}

read_token() {
    local token
    if [ -n "$TOKEN_FILE" ]; then
        token=$(head -n 1 -- "$TOKEN_FILE") || die "cannot read $TOKEN_FILE"
    else
        if [ -t 0 ]; then echo "device token (from \`edgecodec token add $DEVICE_ID\` on the server):" >&2; fi
        IFS= read -r -s token || true
    fi
    token=${token//[[:space:]]/}
    [ -n "$token" ] || die "no token: give --token-file FILE or pipe the token on stdin"
    [[ "$token" == ecb_* ]] || note "warning: the token does not start with ecb_ (is it a device token?)"
    (umask 077 && printf '%s\n' "$token" >"$WORK/token")
}

install_packages() {
    run apt-get update
    run apt-get install -y --no-install-recommends python3-venv python3-dev build-essential cmake \
        libnvinfer-dev python3-libnvinfer gstreamer1.0-tools
    # JetPack's OpenCV (with GStreamer) provides cv2; Ubuntu's python3-opencv only where it is missing.
    if [ "$DRY_RUN" = 1 ]; then
        note "where \`python3 -c 'import cv2'\` fails:"
        run apt-get install -y --no-install-recommends python3-opencv
    elif ! python3 -c 'import cv2' 2>/dev/null; then
        run apt-get install -y --no-install-recommends python3-opencv
    fi
}

install_venv() {
    run python3 -m venv --system-site-packages "$VENV"
    run "$VENV/bin/pip" install --upgrade pip
    if [ -n "$TORCH_WHEEL" ]; then run "$VENV/bin/pip" install "$TORCH_WHEEL"; fi
    # [edge]: the daemon's extras, not the server's. On aarch64 pyproject.toml keeps NumPy below 2:
    # JetPack's cv2 and torch are built against NumPy 1.x and do not import under NumPy 2.
    run "$VENV/bin/pip" install "${SRC}[edge]"
    # pip's OpenCV has no GStreamer: remove it so that JetPack's system cv2 is imported.
    run "$VENV/bin/pip" uninstall -y opencv-python-headless opencv-python
    run "$VENV/bin/python" -c 'import cv2, numpy, torch; assert numpy.__version__.startswith("1."), numpy.__version__'
    run "$VENV/bin/python" -c 'from edgecodec.edge.sources import gstreamer_available as g; assert g(), "no GStreamer"'
}

build_plugin() {
    local build=$PREFIX/build/trt_plugins
    run cmake -S "$SRC/export/plugins/modulated_deform_sampling" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
        -DCMAKE_CUDA_ARCHITECTURES="$F_ARCH" -DEDGECODEC_CUDA_ARCHITECTURES="$F_ARCH"
    run cmake --build "$build" -j "$(getconf _NPROCESSORS_ONLN)"
    run install -D -m 0644 "$build/libedgecodec_trt_plugins.so" "$F_PLUGIN"
}

build_engines() {
    local precision=$F_PRECISION model=()
    if [ -n "$MODEL" ]; then
        run install -D -m 0644 "$MODEL" "$PREFIX/models/$(basename "$MODEL")"
        model=(--model "$PREFIX/models/$(basename "$MODEL")")
    elif [ "$precision" = int8 ]; then
        note "warning: int8 needs a QAT or calibrated checkpoint (--model): building fp16 engines for now;" \
             "rebuild int8 after \`edgecodec calibrate\` (docs/jetson.md)"
        precision=fp16
    fi
    run "$VENV/bin/edgecodec" export trt --out "$F_ENGINES" --precision "$precision" \
        --resolution "$F_RESOLUTION" --plugin "$F_PLUGIN" "${model[@]}"
}

create_user() {
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        run useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin \
            "$SERVICE_USER"
    fi
    run usermod -a -G video "$SERVICE_USER"
}

# Install a rendered file: shown under --dry-run (unless secret), installed otherwise.
put() {
    local mode=$1 group=$2 file=$3 dest=$4
    if [ "$DRY_RUN" = 1 ] && [ "$mode" != 0600 ]; then
        echo "--- $dest"
        cat "$file"
        echo "---"
    fi
    run install -m "$mode" -o root -g "$group" "$file" "$dest"
}

install_files() {
    local model=() profile=$SRC/devices/$PROFILE.toml
    if [ -n "$MODEL" ]; then model=(--model "$PREFIX/models/$(basename "$MODEL")"); fi
    run install -d -m 0755 "$ETC" "$STATE"
    run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$F_SPOOL"
    run chown -R "$SERVICE_USER:$SERVICE_USER" "$F_SPOOL"   # a kept spool of an earlier install
    put 0600 root "$WORK/token" "$F_TOKEN"
    ec doctor --config "$profile" --print config --server "$SERVER" --device-id "$DEVICE_ID" "${model[@]}" \
        >"$WORK/device.toml"
    # 0640 root:edgecodec: an RTSP URL may hold the camera's password.
    put 0640 "$SERVICE_USER" "$WORK/device.toml" "$ETC/device.toml"
    ec doctor --config "$WORK/device.toml" --print unit --venv "$VENV" --config-path "$ETC/device.toml" >"$WORK/unit"
    put 0644 root "$WORK/unit" "$UNIT_PATH"
    run "$VENV/bin/edgecodec" daemon --config "$ETC/device.toml" --validate-config
}

do_install() {
    if [ -z "$PROFILE" ] || [ -z "$SERVER" ] || [ -z "$DEVICE_ID" ]; then
        usage >&2
        die "--profile, --server and --device-id are required"
    fi
    [ -f "$SRC/devices/$PROFILE.toml" ] || die "no profile devices/$PROFILE.toml"
    if [ "$DRY_RUN" = 1 ] && ! "${EDGECODEC_PYTHON:-python3}" -c 'import edgecodec' 2>/dev/null; then
        die "a dry run renders the files with edgecodec, which ${EDGECODEC_PYTHON:-python3} cannot import:" \
            "set EDGECODEC_PYTHON to a venv's python (e.g. the repository's .venv/bin/python)"
    fi
    check_jetpack
    read_token
    if [ "$DRY_RUN" = 0 ] && systemctl is-active --quiet "$UNIT"; then run systemctl stop "$UNIT"; fi
    install_packages
    install_venv
    read_facts "$SRC/devices/$PROFILE.toml"
    check_profile
    build_plugin
    build_engines
    create_user
    install_files
    run systemctl daemon-reload
    run systemctl enable --now "$UNIT"
    # The started daemon holds the camera: doctor waits for its /healthz rather than opening it too.
    if ! run "$VENV/bin/edgecodec" doctor --config "$ETC/device.toml" --wait-for-daemon 120; then
        die "installed and started, but doctor reports failures: fix them, then run \`$VENV/bin/edgecodec doctor\`"
    fi
    note "done: \`journalctl -u $UNIT -f\` shows the daemon's log"
}

# The spool of the installed configuration (it may live outside $STATE), else the default.
installed_spool() {
    local key value
    if [ -x "$VENV/bin/edgecodec" ] && [ -f "$ETC/device.toml" ]; then
        while IFS='=' read -r key value; do
            if [ "$key" = spool ]; then echo "$value"; return; fi
        done < <("$VENV/bin/edgecodec" doctor --config "$ETC/device.toml" --print install-env)
    fi
    echo "$STATE/spool"
}

do_uninstall() {
    local spool
    spool=$(installed_spool)
    if [ "$DRY_RUN" = 1 ] || [ -f "$UNIT_PATH" ]; then
        run systemctl disable --now "$UNIT"
        run rm -f "$UNIT_PATH"
        run systemctl daemon-reload
    fi
    run rm -rf "$PREFIX" "$ETC" "$STATE/engines"
    if [ "$DRY_RUN" = 1 ] || id -u "$SERVICE_USER" >/dev/null 2>&1; then run userdel "$SERVICE_USER"; fi
    if [ "$PURGE" = 1 ]; then
        run rm -rf "$spool" "$STATE"
    else
        note "kept $spool: unsent frames and the sequence state (--purge removes them; a device whose" \
             "spool is wiped needs a new device id)"
    fi
}

main() {
    parse_args "$@"
    [ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (or with --dry-run)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgecodec-install.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    if [ "$DRY_RUN" = 1 ]; then note "dry run: nothing is executed; files are rendered into $WORK"; fi
    if [ "$UNINSTALL" = 1 ]; then do_uninstall; else do_install; fi
}

main "$@"
