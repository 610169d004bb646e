#!/usr/bin/env bash
# CPU-bound image work, release build: the upload path on a 12 MP JPEG (decode → working
# copy → 320 px thumbnail), the builtin renderer at 512×512, and a 4 s builtin clip
# (needs ffmpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --lib -- --ignored --nocapture twelve_megapixel_jpeg_to_thumbnail builtin_render_512 builtin_clip_4s 2>&1 \
  | grep -E "12 MP JPEG|builtin 512|builtin clip"
