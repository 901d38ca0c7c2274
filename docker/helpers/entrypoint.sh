#!/bin/sh
# IOPaint's container entrypoint (/usr/local/bin/iopaint-entrypoint in the image).
#
#   docker run IMAGE                     iopaint start with the defaults from the environment
#   docker run IMAGE --model=mat         the same, with these flags last (they win)
#   docker run IMAGE start --model=mat   the same ("start" is optional)
#   docker run IMAGE iopaint download …  any other command runs as given (old images' habit)
#
# IOPaint's CLI reads no environment, so the defaults become flags here:
#   MODEL DEVICE HOST PORT MODEL_DIR OUTPUT_DIR, and IOPAINT_ARGS for extra flags
#   (split on spaces, e.g. IOPAINT_ARGS="--low-mem --enable-interactive-seg").
set -eu

if [ "$#" -gt 0 ] && [ "$1" = start ]; then
  shift
elif [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

if [ -n "${IOPAINT_ARGS:-}" ]; then
  set -f
  # shellcheck disable=SC2086 # splitting IOPAINT_ARGS into flags is the point
  set -- $IOPAINT_ARGS "$@"
  set +f
fi
if [ -n "${OUTPUT_DIR:-}" ]; then set -- --output-dir="$OUTPUT_DIR" "$@"; fi
if [ -n "${MODEL_DIR:-}" ]; then set -- --model-dir="$MODEL_DIR" "$@"; fi
set -- --model="${MODEL:-lama}" --device="${DEVICE:-cpu}" --host="${HOST:-0.0.0.0}" --port="${PORT:-8080}" "$@"

# The server takes the last value of a repeated flag; find the device and port it will use.
device=cpu
port=8080
expect=
for arg in "$@"; do
  case "$expect" in
    device) device=$arg ;;
    port) port=$arg ;;
  esac
  expect=
  case "$arg" in
    --device=*) device=${arg#--device=} ;;
    --device) expect=device ;;
    --port=*) port=${arg#--port=} ;;
    --port) expect=port ;;
  esac
done

# The device the server will really use: IOPaint falls back to the CPU when torch sees no CUDA
# device, so ask torch the same question first (one import, before the server starts).
if [ "$device" = cuda ] && ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "Using device: cpu (cuda was asked for, but no CUDA device is visible; start the container with --gpus all)"
else
  echo "Using device: $device"
fi
# For the health check, which runs in a separate process: the port the server really uses.
echo "$port" 2>/dev/null >"${TMPDIR:-/tmp}/iopaint-port" || true

# exec: the server becomes PID 1 and receives docker stop's SIGTERM itself, then shuts down cleanly.
exec iopaint start "$@"
