################################################################################
#
# dbgd
#
################################################################################

DBGD_VERSION = 0.1.0
DBGD_ARCH = $(if $(BR2_aarch64),aarch64,x86_64)
DBGD_SOURCE = dbgd-$(DBGD_VERSION)-$(DBGD_ARCH).tar.xz
DBGD_SITE = $(call qstrip,$(BR2_PACKAGE_DBGD_RELEASE_SITE))
DBGD_LICENSE = MIT (musl), LGPL-2.1+ (libxcrypt), Zlib, 0BSD (liblzma), BSD-3-Clause (zstd), \
	Apache-2.0 with Swift exception (Swift runtime)
ifeq ($(BR2_aarch64),y)
DBGD_LICENSE += , GPL-3.0+ with GCC exception (libgcc)
endif
DBGD_LICENSE_FILES = LICENSES/SUMMARY LICENSES/musl.txt LICENSES/libxcrypt.txt LICENSES/LGPL-2.1.txt \
	LICENSES/zlib.txt LICENSES/liblzma.txt LICENSES/zstd.txt LICENSES/swift.txt
ifeq ($(BR2_aarch64),y)
DBGD_LICENSE_FILES += LICENSES/libgcc.txt LICENSES/GPL-3.txt
endif
# Each build of a release differs, so the tarball has no hash here: the SHA256SUMS it
# carries are checked once it is extracted.
BR_NO_CHECK_HASH_FOR += $(DBGD_SOURCE)

define DBGD_CHECK_RELEASE_SUMS
	cd $(@D) && sha256sum --quiet -c SHA256SUMS
endef
DBGD_POST_EXTRACT_HOOKS += DBGD_CHECK_RELEASE_SUMS

define DBGD_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/dbgd $(TARGET_DIR)/usr/sbin/dbgd
	$(INSTALL) -D -m 0644 $(@D)/default/dbgd $(TARGET_DIR)/etc/default/dbgd
	$(SED) 's|^DBGD_OPTS=.*|DBGD_OPTS="$(call qstrip,$(BR2_PACKAGE_DBGD_OPTIONS))"|' $(TARGET_DIR)/etc/default/dbgd
endef

ifeq ($(BR2_PACKAGE_DBGD_DEBUG_SYMBOLS),y)
define DBGD_INSTALL_DEBUG_SYMBOLS
	$(INSTALL) -D -m 0644 $(@D)/dbgd.debug $(TARGET_DIR)/usr/lib/debug/usr/sbin/dbgd.debug
endef
DBGD_POST_INSTALL_TARGET_HOOKS += DBGD_INSTALL_DEBUG_SYMBOLS
endif

define DBGD_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/init.d/S50dbgd $(TARGET_DIR)/etc/init.d/S50dbgd
endef

define DBGD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/dbgd.service $(TARGET_DIR)/usr/lib/systemd/system/dbgd.service
endef

$(eval $(generic-package))
