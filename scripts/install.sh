#!/usr/bin/env bash
# Install everything edgekit needs on a fresh Debian machine: the Fashion-MNIST data package,
# a Python 3.11 virtualenv with the pinned stack (requirements.lock), and edgekit itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=/usr/share/datasets/fashion-mnist
VENV=${VENV:-.venv}

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
  echo "installing Debian package dataset-fashion-mnist"
  apt_install dataset-fashion-mnist
fi

# Web target: headless Chromium from Debian (playwright never downloads a browser) and Node.js + npm
# for the pinned npm packages (edgekit/web/package-lock.json: TF.js 4.22.0, LiteRT.js 2.5.3, playwright-core),
# installed beside edgekit's Node scripts in edgekit/web/node_modules (an installed wheel uses `edgekit setup web`).
web_packages=()
command -v chromium >/dev/null || web_packages+=(chromium)
command -v node >/dev/null || web_packages+=(nodejs)
command -v npm >/dev/null || web_packages+=(npm)
# The search's scale-out tests start a throwaway PostgreSQL server (Debian package; never a running service).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || web_packages+=(postgresql)
# The web target sizes runtime downloads as nginx sends them, compressing with gzip and brotli (Debian's
# nginx-light + ngx_brotli); edgekit starts its own private nginx on 127.0.0.1, never the system service.
new_nginx=""
if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null; then web_packages+=(nginx-light); new_nginx=1; fi
compgen -G "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so" >/dev/null || web_packages+=(libnginx-mod-http-brotli-filter)
if [ ${#web_packages[@]} -gt 0 ]; then
  echo "installing Debian packages ${web_packages[*]}"
  apt_install "${web_packages[@]}"
fi
if [ -n "$new_nginx" ] && command -v systemctl >/dev/null && systemctl is-enabled nginx >/dev/null 2>&1; then
  # the package enables a web server on port 80 where systemd runs; edgekit does not need it
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd systemctl disable --now nginx >/dev/null 2>&1 || true
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "edgekit's web target needs Node.js >= 20 (playwright-core 1.65); found $(node --version) at $(command -v node)" \
       "(Debian 12's nodejs is 18): install Node 20+ (Debian 13's nodejs, or NodeSource) and re-run" >&2
  exit 4
fi
echo "installing the pinned npm packages (npm ci in edgekit/web)"
npm ci --prefix edgekit/web --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "edgekit needs Python 3.11 (the pinned TensorFlow 2.19 stack); set PYTHON=/path/to/python3.11" >&2
  exit 4
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtualenv $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "installing the pinned stack (requirements.lock)"
"$VENV/bin/python" -m pip install -q -r requirements.lock
"$VENV/bin/python" -m pip install -q --no-deps -e .
echo "edgekit installed: $("$VENV/bin/edgekit" --version)"
