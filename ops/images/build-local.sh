#!/usr/bin/env bash
# Builds the gateway and CPU silo images where no registry can be pulled from: a Debian 12 root filesystem from
# debootstrap (minbase + OpenSSL, CA certificates, ICU) becomes the base; the runtime image adds this machine's
# .NET host and shared runtimes, the SDK image its whole .NET SDK; then the Dockerfiles are built with buildah
# (daemonless, chroot isolation, vfs storage), the host's NuGet package cache mounted so the SDK stage restores
# without downloading. Prints each image's size, user and entry point.
#   ops/images/build-local.sh [gateway] [silo-cpu]      (default: both)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$ROOT/artifacts/images"; mkdir -p "$WORK"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
IMAGES=("$@"); [ ${#IMAGES[@]} -eq 0 ] && IMAGES=(gateway silo-cpu)
need() { command -v "$1" >/dev/null 2>&1 || { echo "images: installing $2" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null \
  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }; }; }
need buildah buildah
need debootstrap debootstrap
DOTNET_ROOT="$(dirname "$(readlink -f "$(command -v dotnet)")")"

if [ ! -x "$WORK/rootfs/bin/sh" ]; then
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase --include=libssl3,ca-certificates,libicu72 bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
fi
image() {   # name, then paths of this machine's .NET install to add
  local name="$1"; shift
  local c; c=$(buildah from scratch)
  buildah copy "$c" "$WORK/rootfs" / >/dev/null
  for p in "$@"; do buildah copy "$c" "$DOTNET_ROOT/$p" "/usr/share/dotnet/$p" >/dev/null; done
  buildah run "$c" -- ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet
  # Runtime images carry no package lists, translations, manuals or ICU (the apps run with invariant globalization).
  [ "$name" = localhost/sealion-runtime:10 ] && buildah run "$c" -- sh -c 'dpkg --purge libicu72 >/dev/null 2>&1; rm -rf /var/lib/apt/lists/* /usr/share/locale/* /usr/share/doc/* /usr/share/man/* /var/cache/debconf/*-old'
  [ "$name" = localhost/sealion-runtime:10 ] && buildah config --env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$c"
  # The build stage reaches NuGet through this machine's network: it trusts what this machine trusts.
  [ "$name" = localhost/sealion-sdk:10 ] && buildah copy "$c" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
  buildah config --env DOTNET_ROOT=/usr/share/dotnet --env DOTNET_CLI_TELEMETRY_OPTOUT=1 --env DOTNET_NOLOGO=1 "$c"
  buildah commit -q "$c" "$name" >/dev/null
  buildah rm "$c" >/dev/null
}
buildah inspect localhost/sealion-runtime:10 >/dev/null 2>&1 || image localhost/sealion-runtime:10 dotnet host shared
buildah inspect localhost/sealion-sdk:10 >/dev/null 2>&1 || image localhost/sealion-sdk:10 dotnet host shared sdk sdk-manifests packs

for name in "${IMAGES[@]}"; do
  start=$(date +%s)
  buildah bud -q --layers=false -f "$ROOT/ops/images/$name.Dockerfile" \
    --build-arg SDK_IMAGE=localhost/sealion-sdk:10 --build-arg RUNTIME_IMAGE=localhost/sealion-runtime:10 \
    -v "$HOME/.nuget/packages:/root/.nuget/packages" -t "localhost/sealion-$name:latest" "$ROOT" >"$WORK/$name.log" 2>&1 \
    || { tail -30 "$WORK/$name.log" >&2; exit 1; }
  size=$(buildah images --format '{{.Size}}' "localhost/sealion-$name:latest")
  c=$(buildah from "localhost/sealion-$name:latest"); m=$(buildah mount "$c")
  torch=$(find "$m" -iname '*torch*' | wc -l); app_mb=$(du -sm "$m/app" | cut -f1)
  buildah umount "$c" >/dev/null; buildah rm "$c" >/dev/null
  echo "{\"image\":\"sealion-$name\",\"size\":\"$size\",\"app_mb\":$app_mb,\"torch_files\":$torch,\"build_s\":$(( $(date +%s) - start )),\"user\":\"$(buildah inspect --format '{{.OCIv1.Config.User}}' localhost/sealion-$name:latest)\",\"entrypoint\":\"$(buildah inspect --format '{{.OCIv1.Config.Entrypoint}}' localhost/sealion-$name:latest)\",\"stop_signal\":\"$(buildah inspect --format '{{.OCIv1.Config.StopSignal}}' localhost/sealion-$name:latest)\"}"
done
