//go:build linux && (mips || mipsle)

package static

const sysOpenat2 = 4437 // o32 numbering
