SUMMARY = "dbgd, the dbg remote debugging and control agent"
DESCRIPTION = "A prebuilt static dbgd (musl, no runtime dependencies) from a dbg release: \
               exec, shells, file transfer and a distro rootfs over TCP, Unix sockets and serial lines. \
               It checks passwords against /etc/shadow."
SECTION = "devel"
CVE_PRODUCT = "dbgd"
LICENSE = "MIT & LGPL-2.1-or-later & Zlib & 0BSD & BSD-3-Clause & Apache-2.0"
LICENSE:append:aarch64 = " & GPL-3.0-with-GCC-exception"
LIC_FILES_CHKSUM = "file://LICENSES/SUMMARY;md5=cb79c703dfbe36b4c3bc1093b124fa21"

DBGD_ARCH = "unsupported"
DBGD_ARCH:aarch64 = "aarch64"
DBGD_ARCH:x86-64 = "x86_64"
COMPATIBLE_HOST = "(aarch64|x86_64).*-linux.*"

# Each build of a release differs: the tarball is checked against the SHA256SUMS it
# carries (do_check_release_sums) rather than a checksum here. (From an http(s) site,
# give SRC_URI[sha256sum] in a bbappend, from the release's dist/SHA256SUMS.)
SRC_URI = "${DBGD_RELEASE_SITE}/dbgd-${PV}-${DBGD_ARCH}.tar.xz"
S = "${UNPACKDIR}/dbgd-${PV}-${DBGD_ARCH}"

# The flags dbgd starts with, written to /etc/default/dbgd as DBGD_OPTS.
DBGD_OPTIONS ?= "--listen [::]:5037 --require-tls --mdns"

inherit systemd update-rc.d

INITSCRIPT_NAME = "dbgd"
INITSCRIPT_PARAMS = "defaults 50"
SYSTEMD_SERVICE:${PN} = "dbgd.service"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_check_release_sums[doc] = "Checks the release's files against the SHA256SUMS it carries"
do_check_release_sums() {
    cd ${S}
    sha256sum --quiet -c SHA256SUMS
}
addtask check_release_sums after do_unpack before do_patch

do_install() {
    install -D -m 0755 ${S}/dbgd ${D}${sbindir}/dbgd
    install -D -m 0644 ${S}/default/dbgd ${D}${sysconfdir}/default/dbgd
    sed -i 's|^DBGD_OPTS=.*|DBGD_OPTS="${DBGD_OPTIONS}"|' ${D}${sysconfdir}/default/dbgd
    install -D -m 0644 ${S}/dbgd.debug ${D}${prefix}/lib/debug${sbindir}/dbgd.debug
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -D -m 0755 ${S}/init.d/S50dbgd ${D}${sysconfdir}/init.d/dbgd
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -D -m 0644 ${S}/systemd/dbgd.service ${D}${systemd_system_unitdir}/dbgd.service
    fi
}

# The release's binary is stripped already, its symbols are dbgd.debug: packaged as is,
# the symbols in dbgd-dbg.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
# nooelint: oelint.vars.insaneskip - the binary is stripped on purpose, its symbols are dbgd.debug
INSANE_SKIP:${PN} = "already-stripped"
FILES:${PN}-dbg += "${prefix}/lib/debug"
