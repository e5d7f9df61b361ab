//go:build linux && (arm64 || riscv64)

package static

import "syscall"

// sysStatAt is fstatat(2) in the generic system call table.
const sysStatAt = syscall.SYS_FSTATAT
