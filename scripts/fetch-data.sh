#!/usr/bin/env bash
# Fetches the datasets into data/ and verifies them against data/SHA256SUMS.
#
#   scripts/fetch-data.sh            copy or download, then verify
#   scripts/fetch-data.sh --verify   verify only
#   scripts/fetch-data.sh --no-cifar skip the CIFAR-10 download (about 160 MB)
#
# Source: the shared data folder when it exists ($ACCEL_SHARED_DATA, else ../shared/data next to
# the repository): mnist/, optdigits/ and text-corpus/ are copied, files already present are
# kept. Otherwise the original sources are downloaded: MNIST (three mirrors tried in order),
# UCI optdigits, CIFAR-10 binary (checked against its published MD5). The text corpus has no
# download path. Idempotent: present files are not fetched again, and everything is verified.
#
# Verification rule (the same as accel_core::data::checksum): for each `<sha256>  <path>` line,
# hash data/<path> if it exists, else the decompressed content of data/<path>.gz.
# Exit status: 0 when every listed file verifies; 1 on a mismatch, a missing file (except the
# text corpus when there is no shared copy to take it from) or a failed download.
#
# Mirror overrides, for testing: ACCEL_MNIST_MIRRORS (space-separated base URLs),
# ACCEL_OPTDIGITS_URL, ACCEL_CIFAR_URL, ACCEL_CIFAR_MD5.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$root/data"
sums="$data/SHA256SUMS"
shared="${ACCEL_SHARED_DATA:-$root/../shared/data}"

mnist_mirrors=(${ACCEL_MNIST_MIRRORS:-https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist http://yann.lecun.com/exdb/mnist})
mnist_files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
optdigits_url="${ACCEL_OPTDIGITS_URL:-https://archive.ics.uci.edu/ml/machine-learning-databases/optdigits}"
optdigits_files=(optdigits.tra optdigits.tes optdigits.names)
cifar_url="${ACCEL_CIFAR_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}"
cifar_md5="${ACCEL_CIFAR_MD5:-c32a1d4ab5d03f1284b67883e8d87530}"
cifar_files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)

verify_only=0
cifar=1
for arg in "$@"; do
  case "$arg" in
    --verify) verify_only=1 ;;
    --no-cifar) cifar=0 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch-data: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "fetch-data: $*"; }
die() { echo "fetch-data: error: $*" >&2; exit 1; }

[ -f "$sums" ] || die "$sums is missing; it is tracked in git, restore it with 'git checkout -- data/SHA256SUMS'"
mkdir -p "$data"

# Downloads URL to FILE atomically (temp file, then rename). Returns non-zero on failure.
download() {
  local url="$1" out="$2" tmp="$2.part"
  mkdir -p "$(dirname "$out")"
  if command -v curl > /dev/null; then
    curl -fsSL --retry 2 --connect-timeout 20 -o "$tmp" "$url" || { rm -f "$tmp"; return 1; }
  elif command -v wget > /dev/null; then
    wget -q -O "$tmp" "$url" || { rm -f "$tmp"; return 1; }
  else
    die "neither curl nor wget is installed"
  fi
  mv "$tmp" "$out"
}

# Copies every file of the shared folder's dataset directories that data/ lacks.
copy_shared() {
  local copied=0 kept=0 dir rel
  for dir in mnist optdigits text-corpus; do
    [ -d "$shared/$dir" ] || die "$shared/$dir is missing from the shared data folder"
    while IFS= read -r -d '' rel; do
      rel="${rel#./}"
      if [ -e "$data/$rel" ]; then
        kept=$((kept + 1))
      else
        mkdir -p "$(dirname "$data/$rel")"
        cp "$shared/$rel" "$data/$rel.part"
        chmod u+w "$data/$rel.part"
        mv "$data/$rel.part" "$data/$rel"
        copied=$((copied + 1))
      fi
    done < <(cd "$shared" && find "./$dir" -type f -print0)
  done
  say "copied $copied files from $shared ($kept already present)"
}

fetch_mnist() {
  local name mirror
  for name in "${mnist_files[@]}"; do
    if [ -f "$data/mnist/$name" ] || [ -f "$data/mnist/$name.gz" ]; then continue; fi
    for mirror in "${mnist_mirrors[@]}"; do
      say "downloading $mirror/$name.gz"
      if download "$mirror/$name.gz" "$data/mnist/$name.gz"; then break; fi
      say "  failed; trying the next mirror"
    done
    [ -f "$data/mnist/$name.gz" ] || die "could not download MNIST $name.gz from any mirror: ${mnist_mirrors[*]}"
  done
}

fetch_optdigits() {
  local name
  for name in "${optdigits_files[@]}"; do
    [ -f "$data/optdigits/$name" ] && continue
    say "downloading $optdigits_url/$name"
    download "$optdigits_url/$name" "$data/optdigits/$name" || die "could not download $optdigits_url/$name"
  done
}

fetch_cifar() {
  local dest="$data/cifar10" tarball="$data/cifar10/cifar-10-binary.tar.gz" name present=1 md5
  for name in "${cifar_files[@]}"; do
    [ -f "$dest/cifar-10-batches-bin/$name" ] || present=0
  done
  if [ "$present" = 1 ]; then return 0; fi
  if [ ! -f "$tarball" ]; then
    say "downloading $cifar_url (about 160 MB)"
    download "$cifar_url" "$tarball" || die "could not download CIFAR-10 from $cifar_url"
  fi
  md5="$(md5sum "$tarball" | cut -d' ' -f1)"
  if [ "$md5" != "$cifar_md5" ]; then
    rm -f "$tarball"
    die "$tarball: md5 $md5, expected the published $cifar_md5; deleted it, run again"
  fi
  tar -xzf "$tarball" -C "$dest"
  for name in "${cifar_files[@]}"; do
    [ -f "$dest/cifar-10-batches-bin/$name" ] || die "CIFAR-10 archive lacks cifar-10-batches-bin/$name"
  done
  rm -f "$tarball"
  say "CIFAR-10 extracted to $dest/cifar-10-batches-bin (archive md5 verified)"
}

# Verifies every entry of SHA256SUMS; prints one summary line. Missing text-corpus files are
# tolerated when $1 is 1 (no shared copy to take them from).
verify() {
  local allow_missing_text="$1" line expected rel actual hashed
  local ok=0 missing=0 tolerated=0 mismatched=0 n=0 status=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    case "$line" in '' | '#'*) continue ;; esac
    expected="${line%% *}"
    rel="${line#* }"
    case "$rel" in ' '* | '*'*) rel="${rel:1}" ;; *) rel="" ;; esac
    if ! [[ "$expected" =~ ^[0-9a-fA-F]{64}$ ]] || [ -z "$rel" ] || [[ "$rel" == /* || "/$rel/" == */../* ]]; then
      die "$sums line $n is malformed: '$line' (expected '<64 hex digits>  <relative path>')"
    fi
    expected="${expected,,}"
    if [ -f "$data/$rel" ]; then
      hashed="$data/$rel"
      actual="$(sha256sum < "$hashed" | cut -d' ' -f1)"
    elif [ -f "$data/$rel.gz" ]; then
      hashed="$data/$rel.gz"
      actual="$(gunzip -c < "$hashed" | sha256sum | cut -d' ' -f1)" || actual="(gunzip failed)"
    else
      if [ "$allow_missing_text" = 1 ] && [[ "$rel" == text-corpus/* ]]; then
        tolerated=$((tolerated + 1))
      else
        echo "fetch-data: MISSING $data/$rel" >&2
        missing=$((missing + 1))
        status=1
      fi
      continue
    fi
    if [ "$actual" = "$expected" ]; then
      ok=$((ok + 1))
    else
      echo "fetch-data: MISMATCH $hashed: sha256 $actual, expected $expected (SHA256SUMS line $n); delete it and run scripts/fetch-data.sh again" >&2
      mismatched=$((mismatched + 1))
      status=1
    fi
  done < "$sums"
  local note=""
  [ "$tolerated" -gt 0 ] && note=", $tolerated text-corpus files absent (no download path; copy them from a shared data folder)"
  say "verified $ok files ok, $missing missing, $mismatched mismatched in $data$note"
  return "$status"
}

allow_missing_text=0
if [ "$verify_only" = 0 ]; then
  if [ -d "$shared" ]; then
    shared="$(cd "$shared" && pwd)"
    copy_shared
    say "CIFAR-10 is not in the shared data folder; experiments fall back to MNIST"
  else
    say "no shared data folder at $shared; downloading from the original sources"
    fetch_mnist
    fetch_optdigits
    if [ "$cifar" = 1 ]; then fetch_cifar; else say "skipping CIFAR-10 (--no-cifar)"; fi
    say "the text corpus has no download path: copy text-corpus/ from a shared data folder (set ACCEL_SHARED_DATA)"
    allow_missing_text=1
  fi
elif [ ! -d "$shared" ]; then
  allow_missing_text=1
fi
verify "$allow_missing_text"
