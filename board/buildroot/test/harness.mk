# Stands in for the parts of Buildroot that a generic package's install uses, so that
# board/buildroot/package/dbgd can be checked offline (Scripts/check-buildroot): the
# .config's variables, qstrip, INSTALL and SED, the download (file:// only) and the
# extraction of a .tar.xz, the post-extract and post-install hooks, and the init system's
# install macro. Buildroot's own make rules do the same in this order.
#
#   make -f harness.mk CONFIG=FILE OUT=DIR BR2_EXTERNAL_DBG_PATH=DIR
include $(CONFIG)

qstrip = $(strip $(subst ",,$(1)))
INSTALL = install
SED = sed -i -e
TARGET_DIR = $(OUT)/target
DL_DIR = $(OUT)/dl
BUILD_DIR = $(OUT)/build

# No generic-package: the rules below do its steps.
generic-package =
include $(BR2_EXTERNAL_DBG_PATH)/external.mk

DBGD_DIR = $(BUILD_DIR)/dbgd-$(DBGD_VERSION)
DBGD_INIT = $(if $(BR2_INIT_SYSTEMD),DBGD_INSTALL_INIT_SYSTEMD,$(if $(BR2_INIT_BUSYBOX)$(BR2_INIT_SYSV),DBGD_INSTALL_INIT_SYSV))
define sep


endef

all: $(DBGD_DIR)/.stamp_target_installed

$(DL_DIR)/dbgd/$(DBGD_SOURCE):
	mkdir -p $(@D)
	case "$(DBGD_SITE)" in file://*) ;; *) echo "harness: only file:// sites, not $(DBGD_SITE)" >&2; exit 1 ;; esac
	cp "$(patsubst file://%,%,$(DBGD_SITE))/$(DBGD_SOURCE)" $@

$(DBGD_DIR)/.stamp_extracted: $(DL_DIR)/dbgd/$(DBGD_SOURCE)
	mkdir -p $(@D)
	xzcat $< | tar --strip-components=1 -C $(@D) -xf -
	$(foreach hook,$(DBGD_POST_EXTRACT_HOOKS),$(call $(hook))$(sep))
	touch $@

$(DBGD_DIR)/.stamp_target_installed: $(DBGD_DIR)/.stamp_extracted
	mkdir -p $(TARGET_DIR)
	$(DBGD_INSTALL_TARGET_CMDS)
	$(foreach hook,$(DBGD_POST_INSTALL_TARGET_HOOKS),$(call $(hook))$(sep))
	$(if $(DBGD_INIT),$($(DBGD_INIT)))
	touch $@

# For the check: the license files the package names, and the hash file's view of them.
print-license-files:
	@echo $(DBGD_LICENSE_FILES)
