#!/usr/bin/env bash
# Build the local images the molecule drills run on, without any registry: a Debian base made
# with debootstrap from the mirror apt already uses (plus molecule/images/base/rootfs), then the
# drill hosts from molecule/images/<name>/Dockerfile. Idempotent: an image is rebuilt only when
# it is missing, its folder changed, or its parent image changed; --force rebuilds everything.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

suite=bookworm
base_image=local/debian:$suite
images_dir=molecule/images
# Build order matters: host is the parent of the others.
images=(host app db lb)
state=.state/docker
stamp_label=rollbackctl.stamp
force=false

log() { printf 'build-images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  cat <<EOF
Usage: scripts/build-images.sh [--force]

Build $base_image and local/rollbackctl-{$(IFS=,; echo "${images[*]}")}:$suite for the molecule
drills. Starts the Docker engine first when needed (scripts/docker-engine.sh).

  --force   rebuild every image, the debootstrap base included
  -h        show this help

The Debian mirror is the one apt uses on this machine (/etc/apt); set APT_MIRROR to override.
EOF
}

for arg in "$@"; do
  case $arg in
    --force) force=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

image_name() { printf 'local/rollbackctl-%s:%s' "$1" "$suite"; }

# The first http(s) URI of an enabled "deb" source for $suite, deb822 files first.
apt_mirror() {
  local uri=""
  shopt -s nullglob
  local sources=(/etc/apt/sources.list.d/*.sources)
  local lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  shopt -u nullglob
  if [ ${#sources[@]} -gt 0 ]; then
    uri=$(awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" \
            && uris ~ /^https?:/ && found == "") {
          split(uris, u, " "); found = u[1]
        }
        types = suites = uris = enabled = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:"   { $1 = ""; types = $0; sub(/^ +/, "", types) }
      tolower($1) == "suites:"  { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
      tolower($1) == "uris:"    { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { flush(); print found }
    ' "${sources[@]}")
  fi
  if [ -z "$uri" ]; then
    local list
    for list in "${lists[@]}"; do
      [ -f "$list" ] || continue
      uri=$(sed -E -n "s@^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?(https?://[^[:space:]]+)[[:space:]]+${suite}[[:space:]].*@\2@p" "$list" | head -n1)
      [ -n "$uri" ] && break
    done
  fi
  printf '%s' "$uri"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect --format '{{.Id}}' "$1"; }
image_stamp() { docker image inspect --format "{{index .Config.Labels \"$stamp_label\"}}" "$1" 2>/dev/null || true; }
image_size() { numfmt --to=si --suffix=B "$(docker image inspect --format '{{.Size}}' "$1")"; }

# Content hash of a folder: names, bytes and modes of its files.
folder_hash() {
  (cd "$1" && find . -type f -printf '%p %m\n' -exec sha256sum {} + | LC_ALL=C sort) \
    | sha256sum | cut -d' ' -f1
}

# Identity of what an image is built from: its folder and its parent image.
wanted_stamp() {
  local dir=$1 parent
  parent=$(awk 'toupper($1) == "FROM" { print $2; exit }' "$dir/Dockerfile")
  image_exists "$parent" || die "$parent (parent of $dir) is missing"
  printf '%s %s\n' "$(folder_hash "$dir")" "$(image_id "$parent")" | sha256sum | cut -d' ' -f1
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return
  [ "$(id -u)" -eq 0 ] || die "debootstrap is missing (run as root or: apt-get install -y debootstrap)"
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

rootfs=""
cleanup_rootfs() {
  [ -n "$rootfs" ] && [ -d "$rootfs" ] || return 0
  # debootstrap mounts proc and sys inside the target; never delete through a live mount.
  local mnt
  for mnt in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts"; do
    mountpoint -q "$mnt" && umount -l "$mnt"
  done
  rm -rf --one-file-system "$rootfs"
}
trap cleanup_rootfs EXIT

# Drop what the dpkg excludes in base/rootfs keep out of later layers from the files
# debootstrap already unpacked, so the base layer is as lean as the rest.
trim_rootfs() {
  local share="$1/usr/share"
  rm -rf "$share"/man/* "$share"/info/* "$share"/lintian/*
  if [ -d "$share/locale" ]; then
    find "$share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  fi
  if [ -d "$share/doc" ]; then
    find "$share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$share/doc" -mindepth 1 -depth -type d -empty -delete
  fi
}

build_base() {
  local stamp
  stamp="$(folder_hash "$images_dir/base")-$suite"
  if ! $force && [ "$(image_stamp "$base_image")" = "$stamp" ]; then
    log "$base_image present ($(image_size "$base_image"))"
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "building $base_image needs root (debootstrap)"
  ensure_debootstrap
  local mirror=${APT_MIRROR:-$(apt_mirror)}
  [ -n "$mirror" ] || die "no http(s) apt source for $suite in /etc/apt; set APT_MIRROR"
  local started=$SECONDS build_log="$state/build-base.log" include=()
  # apt over https needs CA certificates inside the image before anything else is installed.
  case $mirror in https:*) include=(--include=ca-certificates) ;; esac
  mkdir -p "$state"
  rootfs=$(mktemp -d "$state/rootfs.XXXXXX")
  log "debootstrapping $suite into $rootfs (log: $build_log)"
  if ! debootstrap --variant=minbase "${include[@]}" "$suite" "$rootfs" "$mirror" >"$build_log" 2>&1; then
    tail -n 20 "$build_log" >&2
    die "debootstrap failed; see $build_log"
  fi
  # Package lists and caches would only make the image larger; every later layer updates.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  trim_rootfs "$rootfs"
  cp -R --no-preserve=ownership "$images_dir/base/rootfs/." "$rootfs/"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  tar -C "$rootfs" --numeric-owner -c . \
    | docker import --change 'CMD ["/bin/bash"]' \
        --change "LABEL $stamp_label=$stamp" - "$base_image" >/dev/null
  cleanup_rootfs
  rootfs=""
  log "$base_image built ($(image_size "$base_image"), $((SECONDS - started))s)"
}

build_image() {
  local name=$1 dir="$images_dir/$1" image stamp started build_log
  image=$(image_name "$name")
  stamp=$(wanted_stamp "$dir")
  if ! $force && [ "$(image_stamp "$image")" = "$stamp" ]; then
    log "$image present ($(image_size "$image"))"
    return
  fi
  started=$SECONDS
  build_log="$state/build-$name.log"
  mkdir -p "$state"
  # Legacy builder on purpose: the docker CLI here has no buildx plugin, so BuildKit builds
  # fail; the legacy builder's deprecation notice lands in the build log only.
  if ! DOCKER_BUILDKIT=0 docker build --label "$stamp_label=$stamp" -t "$image" "$dir" >"$build_log" 2>&1; then
    tail -n 20 "$build_log" >&2
    die "building $image failed; see $build_log"
  fi
  log "$image built ($(image_size "$image"), $((SECONDS - started))s)"
}

"$root/scripts/docker-engine.sh"
build_base
for name in "${images[@]}"; do
  build_image "$name"
done
# Images replaced by a rebuild are left untagged; drop ours, never anyone else's.
docker image prune -f --filter "label=$stamp_label" >/dev/null
