#!/usr/bin/env bash
# GPU figures in one command, on a machine with an NVIDIA GPU, nvcc, cmake and ninja but
# no internet (docs/PERFORMANCE.md, "Serving on a GPU").
#
#   ops/bench/gpu.sh pack          here, online: writes .gpukit/ (git-ignored, <= 64 MiB):
#                                  the llama.cpp source vendored in the llama-cpp-python
#                                  sdist, trimmed, and the wheels the benchmark needs
#   ops/bench/gpu.sh run [--cpu]   there: builds llama.cpp (CUDA unless --cpu or no nvcc)
#                                  and llama-cpp-python's bindings on it, writes a random
#                                  Llama-3-8B-shaped GGUF (--cpu: a small one), quantizes
#                                  it to Q4_K_M, runs llama-batched-bench and the farm's
#                                  engine at 1/8/32/64/128 concurrent requests, and writes
#                                  JSON and a plot to $OUT (or docs/bench/)
#
# `run --cpu` is the dry run of every step on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
KIT=${GPUKIT:-$REPO/.gpukit}
WORK=${GPU_WORK:-/tmp/npcfarm-gpu}
LEVELS=${LEVELS:-1,8,32,64,128}
say() { printf '\033[1m[gpu]\033[0m %s (%ss)\n' "$*" "$SECONDS" >&2; }

pack() {
  local version tmp src
  version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')
  tmp=$(mktemp -d)
  say "llama-cpp-python $version: fetching its sdist"
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$version"
  tar xzf "$tmp"/llama_cpp_python-"$version".tar.gz -C "$tmp"
  src="$tmp/llama_cpp_python-$version"
  # What a CUDA or CPU build of libllama, llama-quantize and llama-batched-bench never
  # reads: vocabularies, docs, the web UI and server, other backends' kernels.
  (cd "$src/vendor/llama.cpp" &&
    rm -rf models docs media benches tests examples pocs app skills .github tools/ui tools/server tools/cli &&
    for b in cann openvino webgpu et metal hexagon sycl vulkan opencl virtgpu musa hip zdnn zendnn blas rpc; do
      rm -rf "ggml/src/ggml-$b"
    done)
  rm -rf "$src/.git" "$src/vendor/llama.cpp/.git" "$src/docs" "$src/examples" "$src/tests" "$src/docker"
  mkdir -p "$KIT/wheels"
  rm -f "$KIT"/llama_cpp_python-*.tar.xz "$KIT"/wheels/*.whl
  tar cJf "$KIT/llama_cpp_python-$version.tar.xz" -C "$tmp" "llama_cpp_python-$version"
  # The GPU image's Python (3.12) has numpy, jinja2, matplotlib, rich, typer and pyyaml,
  # not these; the versions are the ones this checkout runs with.
  local wheels=()
  for name in pydantic pydantic-core pydantic-settings annotated-types typing-inspection \
    python-dotenv diskcache gguf typing-extensions; do
    wheels+=("$name==$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))")")
  done
  say "wheels for Python ${GPU_PYTHON:-3.12}: ${wheels[*]}"
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: -d "$KIT/wheels" \
    --python-version "${GPU_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any "${wheels[@]}"
  rm -rf "$tmp"
  du -sh "$KIT"
  local bytes
  bytes=$(du -sb "$KIT" | cut -f1)
  if [ "$bytes" -gt $((64 * 1024 * 1024)) ]; then
    say "the kit is $bytes bytes, over 64 MiB"; exit 1
  fi
}

python_env() {
  # The site directory holds the bindings built here and whatever wheels are missing.
  PY=${PYTHON:-python3}
  [ -x "$REPO/.venv/bin/python" ] && [ "${1:-}" = cpu ] && PY=$REPO/.venv/bin/python
  mkdir -p "$WORK/site"
  if ! "$PY" -c 'import pydantic, pydantic_settings, gguf, diskcache' 2>/dev/null; then
    say "installing the kit's wheels into $WORK/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$KIT"/wheels/*.whl
  fi
  export PYTHONPATH="$WORK/site:$REPO"
}

build() {
  local cuda=$1 src
  src=$(ls -d "$WORK"/llama_cpp_python-*/ 2>/dev/null | head -1 || true)
  if [ -z "$src" ]; then
    tar xJf "$KIT"/llama_cpp_python-*.tar.xz -C "$WORK"
    src=$(ls -d "$WORK"/llama_cpp_python-*/ | head -1)
  fi
  say "building llama.cpp (CUDA $cuda) from ${src%/}"
  cmake -S "$src/vendor/llama.cpp" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON -DGGML_CUDA="$cuda" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >"$WORK/cmake.log" 2>&1 ||
    { tail -30 "$WORK/cmake.log"; exit 1; }
  cmake --build "$WORK/build" --target llama llama-batched-bench llama-quantize -j "$(nproc)" \
    >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
  # llama-cpp-python's bindings, loading the libraries just built (its lib/ directory)
  rm -rf "$WORK/site/llama_cpp"
  cp -r "$src/llama_cpp" "$WORK/site/llama_cpp"
  mkdir -p "$WORK/site/llama_cpp/lib"
  find "$WORK/build/bin" -name '*.so*' -exec cp -P {} "$WORK/site/llama_cpp/lib/" \;
}

run() {
  local mode=cuda cuda=ON shape=llama3-8b
  if [ "${1:-}" = --cpu ] || ! command -v nvcc >/dev/null 2>&1; then
    mode=cpu cuda=OFF shape=small
  fi
  mkdir -p "$WORK"
  python_env "$mode"
  build "$cuda"
  local out=${OUT:-$REPO/docs/bench}
  mkdir -p "$out"
  if [ ! -s "$WORK/model-$shape-q4_k_m.gguf" ]; then
    say "writing a random $shape GGUF (f16)"
    "$PY" -m ops.bench.gpu model --shape "$shape" --out "$WORK/model-$shape-f16.gguf"
    say "quantizing to Q4_K_M"
    "$WORK/build/bin/llama-quantize" "$WORK/model-$shape-f16.gguf" \
      "$WORK/model-$shape-q4_k_m.gguf" Q4_K_M >"$WORK/quantize.log" 2>&1 ||
      { tail -20 "$WORK/quantize.log"; exit 1; }
    rm -f "$WORK/model-$shape-f16.gguf"
  fi
  local model="$WORK/model-$shape-q4_k_m.gguf" npp=${NPP:-128} ntg=${NTG:-128} max
  max=$(echo "$LEVELS" | tr , '\n' | sort -n | tail -1)
  say "llama-batched-bench at $LEVELS"
  "$WORK/build/bin/llama-batched-bench" -m "$model" -c $((max * (npp + ntg) + 512)) \
    -b 2048 -ub 512 -npp "$npp" -ntg "$ntg" -npl "$LEVELS" -ngl 999 --output-format jsonl \
    >"$WORK/batched-bench.jsonl" 2>"$WORK/batched-bench.log" ||
    { tail -20 "$WORK/batched-bench.log"; exit 1; }
  say "the farm's engine at $LEVELS"
  "$PY" -m ops.bench.gpu serve --model "$model" --levels "$LEVELS" --npp "$npp" --ntg "$ntg" \
    --batched-bench "$WORK/batched-bench.jsonl" --mode "$mode" --out "$out/gpu-$mode.json"
  say "done: $out/gpu-$mode.json and .png"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
