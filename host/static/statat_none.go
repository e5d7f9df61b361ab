//go:build !linux || !(amd64 || ppc64 || ppc64le || s390x || arm64 || riscv64)

package static

// sysStatAt is 0 where fstatat's struct stat is not syscall.Stat_t (the
// 32-bit and MIPS ABIs) or Linux is not the kernel: the open-file cache,
// which needs it to revalidate, is then off.
const sysStatAt = 0
