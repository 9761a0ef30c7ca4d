#!/usr/bin/env bash
# Build the sandbox base image with no registry: a Debian bookworm root with python3, venv and
# pip, plus /opt/venv holding pytest installed offline from wheels downloaded on the host.
#
#   scripts/build-sandbox-image.sh [--tag NAME] [--method auto|host|debootstrap] [--force]
#
# method host:        assemble the root from this Debian 12 host's own installed packages
#                     (dpkg -L over the dependency closure); offline, about 5 s.
# method debootstrap: debootstrap --variant=minbase bookworm (needs the Debian mirror), ~1 min.
# method auto:        host when the host is Debian 12 with python3-venv installed, else debootstrap.
# Idempotent: does nothing when the image exists, unless --force. Runs as root.
set -euo pipefail

TAG="selfmod-sandbox:latest"
METHOD="auto"
FORCE=0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FILES="$HERE/sandbox-image"
WHEEL_CACHE="${SELFMOD_WHEEL_CACHE:-/var/cache/selfmod/sandbox-wheels}"
SANDBOX_UID=10001
MIRROR="${SELFMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Packages the image needs; the host method adds their dependency closure.
PACKAGES=(python3 python3-venv dash coreutils)
# Never pulled in by the closure: maintainer-script machinery a finished root does not need.
SKIP_PACKAGES=" debconf perl-base dpkg init-system-helpers install-info "

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    --method) METHOD="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-sandbox-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$METHOD" in auto|host|debootstrap) ;; *) echo "build-sandbox-image: bad --method $METHOD" >&2; exit 2 ;; esac

log() { echo "build-sandbox-image: $*" >&2; }

if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG exists (use --force to rebuild)"
  exit 0
fi

WORK="$(mktemp -d /var/tmp/selfmod-image.XXXXXX)"
ROOTFS="$WORK/rootfs"
RAW="selfmod-sandbox-raw:$$"
BUILDER="selfmod-sandbox-build-$$"
cleanup() {
  docker rm -f "$BUILDER" >/dev/null 2>&1 || true
  docker rmi "$RAW" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

host_is_bookworm() {
  [ -r /etc/os-release ] && . /etc/os-release && [ "${VERSION_CODENAME:-}" = bookworm ] || return 1
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

# The installed dependency closure of PACKAGES (first installed alternative of each |).
closure() {
  local -A seen=()
  local queue=("${PACKAGES[@]}") pkg deps dep alt name
  while [ ${#queue[@]} -gt 0 ]; do
    pkg="${queue[0]}"; queue=("${queue[@]:1}")
    [ -n "${seen[$pkg]:-}" ] && continue
    case "$SKIP_PACKAGES" in *" $pkg "*) continue ;; esac
    seen[$pkg]=1
    echo "$pkg"
    deps="$(dpkg-query -W -f='${Pre-Depends},${Depends}' "$pkg")"
    IFS=',' read -ra parts <<< "$deps"
    for dep in "${parts[@]}"; do
      IFS='|' read -ra alts <<< "$dep"
      for alt in "${alts[@]}"; do
        name="$(echo "$alt" | sed -e 's/([^)]*)//g' -e 's/:any//' -e 's/[[:space:]]//g')"
        [ -z "$name" ] && continue
        if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed"; then
          queue+=("$name"); break
        fi
      done
    done
  done
}

build_rootfs_from_host() {
  log "assembling the root from the host's installed packages"
  mkdir -p "$ROOTFS"
  # Keep the host's merged-/usr layout so package paths through /lib land in /usr/lib.
  for link in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$link" ]; then
      mkdir -p "$ROOTFS/$(readlink "/$link")"
      ln -s "$(readlink "/$link")" "$ROOTFS/$link"
    fi
  done
  local list="$WORK/files"
  : > "$list"
  for pkg in $(closure); do
    dpkg -L "$pkg" | while IFS= read -r path; do
      # Only what exists, without documentation; directories as entries (no recursion).
      case "$path" in /usr/share/doc/*|/usr/share/man/*|/usr/share/info/*|/usr/share/lintian/*) continue ;; esac
      [ -e "$path" ] || [ -L "$path" ] || continue
      echo "${path#/}"
    done >> "$list"
  done
  sort -u -o "$list" "$list"
  tar -C / --no-recursion -cf - -T "$list" | tar -C "$ROOTFS" --keep-directory-symlink -xf -
  # The Debian packages' own python3 symlink lives in python3-minimal; make sure sh exists.
  [ -e "$ROOTFS/usr/bin/sh" ] || [ -e "$ROOTFS/bin/sh" ] || ln -s dash "$ROOTFS/usr/bin/sh"
}

build_rootfs_debootstrap() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  log "debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
    bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
}

finish_rootfs() {
  mkdir -p "$ROOTFS"/{etc,tmp,proc,sys,dev,sandbox,opt,run,var/tmp,usr/local/share/ca-certificates,etc/ssl/certs}
  chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
  cat > "$ROOTFS/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
sandbox:x:$SANDBOX_UID:$SANDBOX_UID:sandbox:/tmp:/usr/sbin/nologin
EOF
  cat > "$ROOTFS/etc/group" <<EOF
root:x:0:
nogroup:x:65534:
sandbox:x:$SANDBOX_UID:
EOF
  : > "$ROOTFS/etc/shadow"; chmod 600 "$ROOTFS/etc/shadow"
  # CA certificates (public data) so the dependency build step can verify TLS through the same
  # trust the host has, including CAs installed locally with update-ca-certificates.
  if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  fi
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
  # No set-id programs in the sandbox: nothing to escalate through.
  find "$ROOTFS" -xdev -type f -perm /6000 -exec chmod ug-s {} +
}

download_wheels() {
  mkdir -p "$WHEEL_CACHE"
  local pip=(python3 -m pip)
  if ! python3 -m pip --version >/dev/null 2>&1; then pip=(/usr/bin/python3 -m pip); fi
  log "downloading wheels into $WHEEL_CACHE"
  if ! "${pip[@]}" download --quiet --only-binary=:all: --python-version 3.11 \
       -r "$FILES/requirements.txt" -d "$WHEEL_CACHE" 2>"$WORK/pip.log"; then
    ls "$WHEEL_CACHE"/pytest-*.whl >/dev/null 2>&1 || { cat "$WORK/pip.log" >&2; exit 1; }
    log "no index reachable: using the cached wheels"
  fi
}

if [ "$METHOD" = auto ]; then
  if host_is_bookworm; then METHOD=host; else METHOD=debootstrap; fi
fi
case "$METHOD" in
  host) host_is_bookworm || { log "the host is not Debian 12 with ${PACKAGES[*]}"; exit 1; }
        build_rootfs_from_host ;;
  debootstrap) build_rootfs_debootstrap ;;
esac
finish_rootfs
download_wheels

log "importing the root as $RAW"
tar -C "$ROOTFS" --numeric-owner -cf - . | docker import - "$RAW" >/dev/null

log "installing /opt/venv offline"
mkdir -p "$WORK/input"
cp "$FILES/requirements.txt" "$FILES/selfmod_audit.py" "$WORK/input/"
cp "$WHEEL_CACHE"/*.whl "$WORK/input/"
docker run --name "$BUILDER" --network none --user 0 \
  -v "$WORK/input:/input:ro" "$RAW" /bin/sh -ec "
    # Debian's packages ship no bytecode (it is made at install time, which an assembled root
    # skips): without it every Python start in the sandbox compiles the modules it imports.
    python3 -m compileall -q -j 0 /usr/lib/python3.11 >/dev/null 2>&1 || true
    python3 -m venv /opt/venv
    /opt/venv/bin/pip install --quiet --no-index --find-links /input --disable-pip-version-check -r /input/requirements.txt
    site=\$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')
    cp /input/selfmod_audit.py \$site/selfmod_audit.py
    echo 'import selfmod_audit' > \$site/selfmod_audit.pth
    /opt/venv/bin/python -m compileall -q \$site/selfmod_audit.py
    chown -R $SANDBOX_UID:$SANDBOX_UID /opt/venv
    rm -rf /root/.cache
    /opt/venv/bin/python -c 'import pytest'
  "
docker commit \
  -c "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  -c "ENV LANG=C.UTF-8" -c "ENV HOME=/tmp" -c "ENV VIRTUAL_ENV=/opt/venv" \
  -c "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  -c "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
  -c "LABEL org.selfmod.sandbox-base=1" \
  -c "USER $SANDBOX_UID:$SANDBOX_UID" -c "WORKDIR /sandbox" -c 'CMD ["python3"]' \
  "$BUILDER" "$TAG" >/dev/null
log "built $TAG ($METHOD)"
