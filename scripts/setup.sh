#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 or 13 machine (run as root): Debian packages, the plugin's
# virtualenv (built from /usr/bin/python3, the interpreter orthanc-python embeds) and the browser
# libraries from npm. `setup.sh run` installs what running needs; `setup.sh test` adds the test tools;
# `setup.sh free-port` only frees orthanc.json's HttpPort from the Debian orthanc service (see below).
# WSI_SETUP_DRY_RUN=1 prints what would be installed or stopped and changes nothing.
set -euo pipefail
mode="${1:-run}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

act() {  # run a command that changes the machine, or only show it in a dry run
  if [ -n "${WSI_SETUP_DRY_RUN:-}" ]; then echo "setup (dry run): $*"; else "$@"; fi
}

# ---- the Debian orthanc service and the port we need ---------------------------------------------------
# Debian's init script (`service orthanc stop`) stops EVERY process running /usr/sbin/Orthanc on the host,
# other people's servers and test servers included. We touch only the packaged service, and only when it
# holds orthanc.json's HttpPort: through systemd when systemd runs, otherwise the process of the init
# script's pid file, or the Orthanc running on the service's configuration folder. (The WSI_SERVICE_*
# variables exist for tests.)
service_daemon="${WSI_SERVICE_DAEMON:-/usr/sbin/Orthanc}"
service_pidfile="${WSI_SERVICE_PIDFILE:-/run/orthanc.pid}"  # PIDFILE in /etc/init.d/orthanc
service_config="${WSI_SERVICE_CONFIG:-/etc/orthanc}"  # DAEMON_ARGS in /etc/init.d/orthanc
systemd_dir="${WSI_SERVICE_SYSTEMD_DIR:-/run/systemd/system}"  # present when systemd is the init

http_port() {
  local port
  port="$(sed -n 's/.*"HttpPort"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$root/orthanc.json" | head -n 1)"
  echo "${port:-8042}"
}

systemd_runs() { [ -d "$systemd_dir" ] && command -v systemctl >/dev/null 2>&1; }

runs_daemon() {  # process $1 runs the service's executable (also once upgraded on disk)
  case "$(readlink "/proc/$1/exe" 2>/dev/null)" in
    "$service_daemon" | "$service_daemon (deleted)") return 0 ;;
    *) return 1 ;;
  esac
}

service_pids() {  # the Debian service's Orthanc, if it runs
  local pid
  if systemd_runs; then
    pid="$(systemctl show -p MainPID --value orthanc 2>/dev/null || true)"
    [ -n "$pid" ] && [ "$pid" != 0 ] && echo "$pid"
    return 0
  fi
  pid="$(tr -dc '0-9' 2>/dev/null < "$service_pidfile" || true)"
  if [ -n "$pid" ] && runs_daemon "$pid"; then
    echo "$pid"
    return 0
  fi
  for pid in $(ls /proc | grep -x '[0-9]*'); do  # started without its pid file
    runs_daemon "$pid" && tr '\0' '\n' 2>/dev/null < "/proc/$pid/cmdline" | grep -qxF -e "$service_config" \
      -e "$service_config/" && echo "$pid"
  done
  return 0
}

holds_port() {  # process $1 listens on TCP port $2 (IPv4 or IPv6)
  local inode
  for inode in $(awk -v port="$(printf '%04X' "$2")" \
      '$4 == "0A" { n = split($2, local, ":"); if (local[n] == port) print $10 }' /proc/net/tcp /proc/net/tcp6 \
      2>/dev/null); do
    find "/proc/$1/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q . && return 0
  done
  return 1
}

running() {  # process $1 exists and has not exited (a zombie has released its port already)
  kill -0 "$1" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop_service() {  # $1: the service's pid; $2: "yes" when set-up has just installed the package
  if systemd_runs; then
    act systemctl stop orthanc
    # Installed by set-up: it must not take the port again at the next boot.
    [ "$2" = yes ] && act systemctl disable orthanc
    return 0
  fi
  act kill -TERM "$1"  # as the init script does (TERM, 30 s, KILL), to this one process only
  local waited=0
  while [ -z "${WSI_SETUP_DRY_RUN:-}" ] && running "$1" && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if [ -z "${WSI_SETUP_DRY_RUN:-}" ] && running "$1"; then act kill -KILL "$1"; fi
  if [ "$(tr -dc '0-9' 2>/dev/null < "$service_pidfile" || true)" = "$1" ]; then act rm -f "$service_pidfile"; fi
  return 0
}

free_port() {  # $1: "yes" when set-up has just installed the orthanc package
  local port pid
  port="$(http_port)"
  for pid in $(service_pids); do
    if holds_port "$pid" "$port"; then
      echo "setup: the Debian orthanc service (pid $pid) holds port $port, which orthanc.json needs: stopping it"
      stop_service "$pid" "$1"
    fi
  done
}

if [ "$mode" = free-port ]; then
  free_port no
  exit 0
fi

run_packages=(orthanc orthanc-python python3-venv ca-certificates)
# npm installs the browser libraries: Debian's Node.js and npm when the machine has no npm at all
# (a Node.js that brings its own npm, e.g. from NodeSource, is left as it is).
command -v npm >/dev/null 2>&1 || run_packages+=(nodejs npm)
test_packages=(orthanc-wsi orthanc-gdcm wrk chromium nginx-light fonts-dejavu-core libturbojpeg0 dicom3tools)

need_apt=()
packages=("${run_packages[@]}")
[ "$mode" = test ] && packages+=("${test_packages[@]}")
# debootstrap: the Debian 13 root of the tests; file: libmagic for the IIIF validator (Debian 12 and 13 name
# the library's package differently).
[ "$mode" = test ] && packages+=(debootstrap file)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  act apt-get update -q
  act apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
# Installing the orthanc package starts its service on port 8042; `scripts/run` needs that port too.
installed_orthanc=no
for p in "${need_apt[@]}"; do [ "$p" = orthanc ] && installed_orthanc=yes; done
if [ "$mode" = run ] || [ "$installed_orthanc" = yes ]; then
  free_port "$installed_orthanc"
fi
if [ -n "${WSI_SETUP_DRY_RUN:-}" ]; then
  echo "setup (dry run): Debian packages and the service checked; virtualenv and npm steps not shown"
  exit 0
fi

# Plugin virtualenv: must match the embedded interpreter's version (Debian's python3).
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s <("$venv/bin/python" -c 'import sys; print(sys.version_info[:2])') \
     <(/usr/bin/python3 -c 'import sys; print(sys.version_info[:2])'); then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
fi
install_requirements() {
  local file="$1" stamp="$venv/.stamp-$(basename "$1")"
  local sum; sum="$(cat "$file" requirements.txt | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "setup: pip install -r $file"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$file"
    echo "$sum" > "$stamp"
  fi
}
install_requirements requirements.txt
[ "$mode" = test ] && install_requirements requirements-test.txt

# The official IIIF Image API validator lives in a virtualenv of its own: its package name clashes
# with iiif-validator-ng's (which ships the validator's test image) in one environment.
# wsidicomizer (an independent slide producer for tests) needs a newer Pillow than iiif-prezi3 allows.
side_venv() {  # folder, command it provides, pip requirement
  if [ "$mode" = test ] && [ ! -x "$1/bin/$2" ]; then
    echo "setup: $3 into $1"
    rm -rf "$1"
    /usr/bin/python3 -m venv "$1"
    "$1/bin/pip" install -q --disable-pip-version-check "$3"
  fi
}
side_venv "$root/tests/.cache/iiif-validator-1.0.5" iiif-validate.py iiif-validator==1.0.5
side_venv "$root/tests/.cache/wsidicomizer" wsidicomizer wsidicomizer==0.26.1

# Browser libraries, served by the plugin (no CDN at run time).
if [ -f webassets/package.json ]; then
  stamp="webassets/node_modules/.stamp"
  sum="$(cat webassets/package.json webassets/package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] || [ ! -d webassets/vendor ]; then
    echo "setup: npm install in webassets/"
    (cd webassets && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; \
      else npm install --no-audit --no-fund --loglevel=error; fi)
    (cd webassets && if npm run | grep -q '^  vendor'; then npm run --silent vendor; fi)
    echo "$sum" > "$stamp"
  fi
fi
echo "setup: ready ($mode)"
