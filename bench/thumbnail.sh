#!/usr/bin/env bash
# Times the upload path on a 12 MP JPEG (decode → working copy → 320 px thumbnail), release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --lib twelve_megapixel_jpeg_to_thumbnail -- --ignored --nocapture 2>&1 | grep "12 MP JPEG"
