# Sourced by scripts/ensure-*.sh: installs Debian packages with apt-get, as root or through sudo.
#   apt_ensure WHO COMMAND:PACKAGE...  installs each PACKAGE whose COMMAND is neither on PATH nor
#                                      in /usr/bin (apt-get update first, only then); sets
#                                      APT_INSTALLED to what it installed (empty: nothing missing)
#   apt_sudo WHO                       sets SUDO to "" (root) or "sudo"; fails saying WHO needs it
#   apt_install WHO PACKAGE...         apt-get update, then install PACKAGE... quietly
apt_sudo() {
  SUDO=""
  [ "$(id -u)" = 0 ] && return 0
  command -v sudo >/dev/null 2>&1 || { echo "$1: installing Debian packages needs root or sudo" >&2; return 1; }
  SUDO="sudo"
}

apt_install() {
  local who=$1
  shift
  apt_sudo "$who" || return 1
  echo "$who: installing Debian packages: $*" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

apt_ensure() {
  local who=$1 pair missing=()
  shift
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/bin/${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  APT_INSTALLED="${missing[*]}"
  [ ${#missing[@]} -eq 0 ] || apt_install "$who" "${missing[@]}"
}
