//go:build linux && (amd64 || ppc64 || ppc64le || s390x)

package static

import "syscall"

// sysStatAt is fstatat(2) where the 64-bit struct stat goes by the name
// newfstatat.
const sysStatAt = syscall.SYS_NEWFSTATAT
