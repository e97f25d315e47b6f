#!/usr/bin/env bash
# What llama.cpp's Vulkan backend needs to compile, from Debian's registry only; prints
# the Vulkan include folder to build with, or nothing (and exit 1) when it cannot be had.
#
#   include_dir="$(packaging/linux/vulkan_toolchain.sh)" && CMAKE_ARGS="-DGGML_VULKAN=ON
#     -DVulkan_INCLUDE_DIR=$include_dir ..."
#
# Why: the vendored llama.cpp uses vk::LayerSettingEXT (VK_EXT_layer_settings), which
# Debian 12's Vulkan headers (1.3.239) lack, so the build fails in ggml-vulkan.cpp. The
# headers are header-only and backward compatible: Debian 13's libvulkan-dev (1.4.309)
# is downloaded as a .deb (apt-get download, through a private apt configuration so the
# machine's own sources are untouched) and unpacked into the build cache; nothing is
# installed from it and the binary links against the system's libvulkan.so.1 loader
# as usual (it only calls entry points every loader exports). glslc and the loader come
# from the machine's own Debian release (apt-get install, when run as root).
# Environment: SCALPEL_VULKAN_CACHE  where the headers are unpacked
#              (default ~/.cache/scalpel-build/vulkan)
set -euo pipefail

CACHE="${SCALPEL_VULKAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scalpel-build/vulkan}"
HEADERS_SUITE="trixie"           # the Debian release whose libvulkan-dev is new enough
say() { echo "vulkan_toolchain.sh: $*" >&2; }

has_layer_settings() { grep -qs "LayerSettingEXT" "$1"/vulkan/vulkan*.hpp; }

missing=()
command -v glslc > /dev/null || missing+=(glslc)
[ -e /usr/include/vulkan/vulkan.h ] || missing+=(libvulkan-dev)
[ -e /usr/include/spirv/unified1/spirv.hpp ] || missing+=(spirv-headers)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
    say "missing ${missing[*]} (install them with apt-get as root); building without Vulkan"
    exit 1
  fi
  say "installing ${missing[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" > /dev/null \
    || { apt-get update -q > /dev/null && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" > /dev/null; } \
    || { say "apt-get could not install ${missing[*]}"; exit 1; }
fi

if has_layer_settings /usr/include; then  # the system's headers are new enough
  echo /usr/include
  exit 0
fi

include="$CACHE/usr/include"
if ! has_layer_settings "$include"; then
  say "this system's Vulkan headers lack VK_EXT_layer_settings; fetching Debian" \
      "$HEADERS_SUITE's libvulkan-dev (headers only) into $CACHE"
  apt_dir="$(mktemp -d)"
  trap 'rm -rf "$apt_dir"' EXIT
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb http://deb.debian.org/debian $HEADERS_SUITE main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
            -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -q > /dev/null \
    || { say "cannot reach Debian's $HEADERS_SUITE package lists"; exit 1; }
  (cd "$apt_dir" && apt-get "${apt_opts[@]}" download -q "libvulkan-dev/$HEADERS_SUITE" \
      > /dev/null) || { say "apt-get download libvulkan-dev/$HEADERS_SUITE failed"; exit 1; }
  rm -rf "$CACHE" && mkdir -p "$CACHE"
  dpkg-deb -x "$apt_dir"/libvulkan-dev_*.deb "$CACHE"
  has_layer_settings "$include" || { say "the downloaded headers lack it too"; exit 1; }
fi
echo "$include"
