# Sourced by the image scripts: how this project calls buildah (docs/deployment.md, "Images").
#
# vfs and chroot isolation need no daemon, no overlay mounts and no user namespaces, so buildah
# works inside a CI container or a locked-down build VM. buildah 1.28 (Debian 12) ignores the
# STORAGE_DRIVER variable, so the driver is passed on every call; and so that a plain
# `buildah images` lists what we built, the default store is set to vfs where nothing
# configures storage yet.
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
BUILDAH=(buildah --storage-driver "$STORAGE_DRIVER")

ensure_storage_conf() {
  local conf=/etc/containers/storage.conf
  [[ $(id -u) -eq 0 ]] || conf=${XDG_CONFIG_HOME:-$HOME/.config}/containers/storage.conf
  [[ -e $conf ]] && return 0
  mkdir -p "$(dirname "$conf")"
  printf '[storage]\ndriver = "%s"\n' "$STORAGE_DRIVER" >"$conf"
  if [[ $(id -u) -eq 0 ]]; then
    printf 'runroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' >>"$conf"
  fi
  echo "[buildah] wrote ${conf}: the default store uses the ${STORAGE_DRIVER} driver" >&2
}
