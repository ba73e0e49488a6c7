// Linux-PAM for the host build only: the static firmware cannot load PAM modules
// (musl's static dlopen always fails), so it authenticates against shadow instead.
#include <security/pam_appl.h>
