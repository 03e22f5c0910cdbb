#!/usr/bin/env bash
# Installs what upkeep's tests need beyond cargo: Debian's nginx-light (real
# nginx for `nginx -t` and the traffic tests), its stream module, patch,
# unshare and ip (the traffic tests run in a private network namespace),
# openssl (test certificates for the TLS backends), script (a terminal
# for the color tests), man (the man page test), setfattr/setfacl (a
# write keeps extended attributes and ACLs) and git (diffs apply with
# `git apply`).
# Idempotent; does nothing when everything is there already.
set -euo pipefail

missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v patch >/dev/null || missing+=(patch)
command -v unshare >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v openssl >/dev/null || missing+=(openssl)
command -v script >/dev/null || missing+=(bsdutils)
command -v man >/dev/null || missing+=(man-db)
command -v setfattr >/dev/null || missing+=(attr)
command -v setfacl >/dev/null || missing+=(acl)
command -v git >/dev/null || missing+=(git)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "upkeep tests need: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 2
fi

echo "installing ${missing[*]} from Debian's packages" >&2
# Keep the package's post-install from starting a system nginx on port 80.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
