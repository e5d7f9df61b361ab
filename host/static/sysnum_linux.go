//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package static

// sysOpenat2 is openat2(2)'s number: Linux gave new system calls one
// number on every architecture but the MIPS ABIs.
const sysOpenat2 = 437
