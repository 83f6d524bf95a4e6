#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root): Debian packages, the plugin's
# virtualenv (built from /usr/bin/python3, the interpreter orthanc-python embeds) and the browser
# libraries from npm. `setup.sh run` installs what running needs; `setup.sh test` adds the test tools.
set -euo pipefail
mode="${1:-run}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

run_packages=(orthanc orthanc-python python3-venv ca-certificates)
test_packages=(orthanc-wsi orthanc-gdcm wrk chromium nginx-light fonts-dejavu-core libturbojpeg0)

need_apt=()
packages=("${run_packages[@]}")
[ "$mode" = test ] && packages+=("${test_packages[@]}")
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  # The Debian package starts its own Orthanc on port 8042; ours replaces it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled orthanc >/dev/null 2>&1; then
    systemctl disable --now orthanc >/dev/null 2>&1 || true
  fi
  service orthanc stop >/dev/null 2>&1 || true
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
