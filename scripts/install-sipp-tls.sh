#!/usr/bin/env bash
# A sipp that speaks TLS itself (`-t l1`), for test/interop/tls-sipp.test.ts: Debian bookworm's
# sip-tester is built without TLS; trixie's (1:3.7.x, wolfSSL) has it but needs trixie's glibc
# and libstdc++. This fetches trixie's sip-tester and the libraries it links with, unpacked into
# .tools/sipp-tls/ (git-ignored), and writes .tools/bin/sipp-tls, which runs that sipp through
# trixie's own dynamic loader and libraries. The system is not touched: apt runs on a private
# state (its own sources, lists and cache under a temporary directory) and nothing is installed.
# The archive is the one the system's apt sources already use (or SIPP_TLS_MIRROR).
# Idempotent: does nothing when .tools/bin/sipp-tls is there, answers -v with TLS, and was made
# by this recipe (RECIPE below).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
DEST=$TOOLS/sipp-tls
WRAPPER=$TOOLS/bin/sipp-tls
SUITE=trixie
# Bump when what is installed changes, so an older install is replaced.
RECIPE="$SUITE 1"
# sip-tester and what its binary links with (ld.so --list), glibc's loader included.
PACKAGES=(sip-tester libc6 libstdc++6 libgcc-s1 libgsl28 libgslcblas0 libwolfssl42t64
  libpcap0.8t64 libsctp1 libncursesw6 libtinfo6 libdbus-1-3 libsystemd0 libcap2)

fail() {
  echo "install-sipp-tls: $*" >&2
  echo "install-sipp-tls: test/interop/tls-sipp.test.ts needs this TLS sipp" >&2
  exit 1
}

has_tls() {
  local v
  [[ -x $WRAPPER && -f $DEST/.recipe && "$(cat "$DEST/.recipe")" == "$RECIPE" ]] || return 1
  v=$("$WRAPPER" -v 2>&1 || true) # sipp -v exits 99
  [[ $v == *"SIPp v"*"-TLS"* ]]
}

if has_tls; then
  exit 0
fi

for tool in apt-get dpkg dpkg-deb cc; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (Debian's apt and dpkg, and a C compiler, are needed)"
done
arch=$(dpkg --print-architecture)
case $arch in
  amd64) triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
  arm64) triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
  *) fail "architecture $arch is not supported" ;;
esac

# The Debian archive the system's apt already uses: the first deb source with component main
# whose suite is a release itself (not -security or -updates), deb822 or one-line format.
debian_archive() {
  if [[ -n ${SIPP_TLS_MIRROR:-} ]]; then
    echo "$SIPP_TLS_MIRROR"
    return
  fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    uri=$(awk '
      function flush(   n, i, s) {
        if (!found && uri != "" && types ~ /(^| )deb( |$)/ && comps ~ /(^| )main( |$)/) {
          n = split(suites, s, " ")
          for (i = 1; i <= n; i++) if (s[i] !~ /-/) { print uri; found = 1; break }
        }
        types = suites = comps = uri = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "components:" { $1 = ""; comps = $0 }
      END { flush() }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    uri=$(awk '$1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) !~ /-/) { print $i; exit }
      }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
}

archive=$(debian_archive)
[[ -n $archive ]] || fail "no Debian archive found in /etc/apt sources (set SIPP_TLS_MIRROR to one)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || fail "$keyring not found (Debian's debian-archive-keyring)"

mkdir -p "$TOOLS/bin"
work=$(mktemp -d "$TOOLS/sipp-tls.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
  "$archive" "$SUITE" "$keyring" >"$work/$SUITE.sources"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/$SUITE.sources" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Dir::State::status=/dev/null
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
  -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
)
# as root apt hands downloads to its _apt user, which cannot write into $work
[[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)

echo "install-sipp-tls: fetching $SUITE's sip-tester (sipp with TLS) from $archive into .tools/sipp-tls"
apt-get "${apt_opts[@]}" -qq --error-on=any update || fail "apt-get update of $SUITE from $archive failed"
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${PACKAGES[@]}") ||
  fail "downloading ${PACKAGES[*]} from $SUITE failed"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root" || fail "cannot unpack $deb"
done
libdir=$work/root/usr/lib/$triplet
[[ -x $work/root/usr/bin/sipp && -e $libdir/$loader ]] || fail "sipp or $loader missing from the packages"

# sipp 3.7's TLS send (send_nowait_tls) starts with SSL_get_fd() and gives up when it is -1.
# It attaches its sockets with SSL_set_bio(BIO_new_socket(fd)), and wolfSSL's SSL_get_fd
# returns only a descriptor given by SSL_set_fd (-1 here), so with wolfSSL no SIP message is
# ever written: the handshake, done through the BIO, succeeds, then every send fails without
# a syscall (sipp counts TLS send errors or, errno being a stale EAGAIN, congestion). This
# preloaded SSL_get_fd falls back to the descriptor of the SSL's BIO.
mkdir -p "$work/lib"
cc -shared -fPIC -O2 -Wall -o "$work/lib/sipp-wolfssl-get-fd.so" -x c - <<'EOF' ||
#define _GNU_SOURCE
#include <dlfcn.h>

typedef struct WOLFSSL WOLFSSL;
typedef struct WOLFSSL_BIO WOLFSSL_BIO;
WOLFSSL_BIO *wolfSSL_SSL_get_wbio(const WOLFSSL *ssl);
int wolfSSL_BIO_get_fd(WOLFSSL_BIO *bio, int *fd);

int wolfSSL_get_fd(const WOLFSSL *ssl)
{
    static int (*real)(const WOLFSSL *);
    if (!real)
        real = (int (*)(const WOLFSSL *))dlsym(RTLD_NEXT, "wolfSSL_get_fd");
    int fd = real ? real(ssl) : -1;
    if (fd == -1 && ssl) {
        WOLFSSL_BIO *bio = wolfSSL_SSL_get_wbio(ssl);
        if (bio)
            fd = wolfSSL_BIO_get_fd(bio, 0);
    }
    return fd;
}
EOF
  fail "cannot compile the SSL_get_fd shim"

# Every library must come from the unpacked tree, none from the system's (another glibc).
listing=$("$libdir/$loader" --library-path "$libdir" --list "$work/root/usr/bin/sipp") ||
  fail "trixie's loader cannot load sipp"
stray=$(grep '=>' <<<"$listing" | grep -v "=> $libdir/" || true)
[[ -z $stray ]] || fail "sipp needs libraries the package list misses:"$'\n'"$stray"

rm -rf "$DEST"
mkdir -p "$work/final"
mv "$work/root" "$work/lib" "$work/final/"
echo "$RECIPE" >"$work/final/.recipe"
mv "$work/final" "$DEST"
cat >"$WRAPPER" <<EOF
#!/bin/sh
# $SUITE's sipp (TLS with wolfSSL) run by its own loader and libraries, with the SSL_get_fd
# shim; written by scripts/install-sipp-tls.sh.
D=\$(cd "\$(dirname "\$0")/../sipp-tls" && pwd)
L=\$D/root/usr/lib/$triplet
exec "\$L/$loader" --library-path "\$L" --preload "\$D/lib/sipp-wolfssl-get-fd.so" "\$D/root/usr/bin/sipp" "\$@"
EOF
chmod +x "$WRAPPER"
has_tls || fail "$WRAPPER -v does not report TLS"
echo "install-sipp-tls: $("$WRAPPER" -v 2>&1 | grep -o 'SIPp v[^ ]*[^ .]' || true) at .tools/bin/sipp-tls"
