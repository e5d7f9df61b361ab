//go:build linux && (mips64 || mips64le)

package static

const sysOpenat2 = 5437 // n64 numbering
