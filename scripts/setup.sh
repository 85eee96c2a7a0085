#!/usr/bin/env bash
# Installs what iccrt needs to build and test, and nothing when it is already there.
# Idempotent and quiet on a machine that already has everything; used by `make demo` and `make test`.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

APT_PACKAGES=(
  cmake g++ make pkg-config
  libopenblas-dev libeigen3-dev libomp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openmpi-bin libopenmpi-dev libcli11-dev
)
PIP_PACKAGES=(numpy pybind11 pytest scikit-build-core safetensors)
# module name for each pip package, to check what is importable
PIP_MODULES=(numpy pybind11 pytest scikit_build_core safetensors)

missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing_apt+=("$p")
  fi
done
if ((${#missing_apt[@]})); then
  echo "[setup] apt: installing ${missing_apt[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/tmp/iccrt-apt.log 2>&1 || { cat /tmp/iccrt-apt.log; exit 1; }
fi

missing_pip=()
for i in "${!PIP_PACKAGES[@]}"; do
  if ! "$PYTHON" -c "import ${PIP_MODULES[$i]}" >/dev/null 2>&1; then
    missing_pip+=("${PIP_PACKAGES[$i]}")
  fi
done
if ((${#missing_pip[@]})); then
  echo "[setup] pip: installing ${missing_pip[*]}"
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${missing_pip[@]}"
fi
