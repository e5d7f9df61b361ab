package interrupt

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

var errTruncated = errors.New("truncated")

// readLEB128 reads the groups of a LEB128 at p[pos] whose bits start
// below maxBits, and returns them with the number of bits read, the last
// byte, and the position after it.
func readLEB128(p []byte, pos int, maxBits uint) (v uint64, bits uint, last byte, next int, err error) {
	for shift := uint(0); shift < maxBits; shift += 7 {
		if pos >= len(p) {
			return 0, 0, 0, 0, errTruncated
		}
		b := p[pos]
		pos++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, shift + 7, b, pos, nil
		}
	}
	return 0, 0, 0, 0, errors.New("integer encoding too long")
}

// readU64 reads an unsigned LEB128 of at most 64 bits at p[pos] and
// returns it with the position after it.
func readU64(p []byte, pos int) (uint64, int, error) {
	v, _, _, pos, err := readLEB128(p, pos, 64)
	return v, pos, err
}

// readU32 is readU64 for a 32-bit value.
func readU32(p []byte, pos int) (uint32, int, error) {
	v, pos, err := readU64(p, pos)
	if err == nil && v > 1<<32-1 {
		err = fmt.Errorf("%d does not fit 32 bits", v)
	}
	return uint32(v), pos, err
}

// skipSigned skips a signed LEB128 of at most maxBytes bytes.
func skipSigned(p []byte, pos, maxBytes int) (int, error) {
	for range maxBytes {
		if pos >= len(p) {
			return 0, errTruncated
		}
		if p[pos] < 0x80 {
			return pos + 1, nil
		}
		pos++
	}
	return 0, errors.New("integer encoding too long")
}

// readName reads a length-prefixed UTF-8 name.
func readName(p []byte, pos int) (string, int, error) {
	n, pos, err := readU32(p, pos)
	if err != nil {
		return "", 0, err
	}
	if uint64(pos)+uint64(n) > uint64(len(p)) {
		return "", 0, errTruncated
	}
	name := p[pos : pos+int(n)]
	if !utf8.Valid(name) {
		return "", 0, errors.New("name is not UTF-8")
	}
	return string(name), pos + int(n), nil
}

// skipValueType skips a number, vector or reference type.
func skipValueType(p []byte, pos int) (int, error) {
	if pos >= len(p) {
		return 0, errTruncated
	}
	switch p[pos] {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f: // i32 i64 f32 f64 v128 funcref externref
		return pos + 1, nil
	}
	return 0, fmt.Errorf("unknown value type %#x", p[pos])
}

// Block types -29 and -28 (the bytes 0x63 and 0x64) are the reference
// types ref null and ref, which a heap type follows. wazero reads them
// whatever features are enabled.
const (
	blockRefNull = -29
	blockRef     = -28
)

// skipBlockType skips a block type as wazero reads it: a signed 33-bit
// integer, a type index or a negative value type, and after ref null or
// ref the heap type, another one.
func skipBlockType(p []byte, pos int) (int, error) {
	v, pos, err := readS33(p, pos)
	if err == nil && (v == blockRefNull || v == blockRef) {
		_, pos, err = readS33(p, pos)
	}
	return pos, err
}

// readS33 reads a signed 33-bit LEB128 of at most 5 bytes, bit 32 the
// sign, as wazero does.
func readS33(p []byte, pos int) (int64, int, error) {
	v, bits, last, pos, err := readLEB128(p, pos, 35)
	if err != nil {
		return 0, 0, err
	}
	if last&0x40 != 0 {
		v |= ^uint64(0) << bits
	}
	v &= 1<<33 - 1
	if v&(1<<32) != 0 {
		return int64(v) - 1<<33, pos, nil
	}
	return int64(v), pos, nil
}

// skipMemArg skips a memory argument: alignment (whose bit 6 announces a
// memory index), then offset.
func skipMemArg(p []byte, pos int) (int, error) {
	align, pos, err := readU32(p, pos)
	if err == nil && align&0x40 != 0 {
		_, pos, err = readU32(p, pos)
	}
	if err == nil {
		_, pos, err = readU64(p, pos)
	}
	return pos, err
}

// skipU32s skips n unsigned LEB128 immediates.
func skipU32s(p []byte, pos, n int) (int, error) {
	var err error
	for range n {
		if _, pos, err = readU32(p, pos); err != nil {
			return 0, err
		}
	}
	return pos, nil
}

// skipBytes skips n raw bytes.
func skipBytes(p []byte, pos, n int) (int, error) {
	if pos+n > len(p) {
		return 0, errTruncated
	}
	return pos + n, nil
}

// skipInstruction returns the position after the instruction at p[pos]:
// its opcode and immediates. It knows every instruction wazero compiles
// (core 2.0 with SIMD, tail calls and threads); any other is an error.
func skipInstruction(p []byte, pos int) (int, error) {
	op := p[pos]
	pos++
	switch {
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// unreachable nop else end return drop select; numeric; ref.is_null
		return pos, nil
	case op >= 0x02 && op <= 0x04: // block loop if
		return skipBlockType(p, pos)
	case op == 0x0c, op == 0x0d, op == 0x10, op == 0x12, // br br_if call return_call
		op >= 0x20 && op <= 0x26, op == 0xd2: // local.*, global.*, table.get/set; ref.func
		return skipU32s(p, pos, 1)
	case op == 0x0e: // br_table: the labels, then the default
		n, pos, err := readU32(p, pos)
		if err != nil {
			return 0, err
		}
		return skipU32s(p, pos, int(min(n, uint32(len(p))))+1)
	case op == 0x11, op == 0x13: // call_indirect return_call_indirect: type, table
		return skipU32s(p, pos, 2)
	case op == 0x1c: // select with types
		n, pos, err := readU32(p, pos)
		for i := uint32(0); err == nil && i < n; i++ {
			pos, err = skipValueType(p, pos)
		}
		return pos, err
	case op >= 0x28 && op <= 0x3e: // loads and stores
		return skipMemArg(p, pos)
	case op == 0x3f, op == 0x40: // memory.size memory.grow: the memory
		return skipU32s(p, pos, 1)
	case op == 0x41: // i32.const
		return skipSigned(p, pos, 5)
	case op == 0x42: // i64.const
		return skipSigned(p, pos, 10)
	case op == 0x43: // f32.const
		return skipBytes(p, pos, 4)
	case op == 0x44: // f64.const
		return skipBytes(p, pos, 8)
	case op == 0xd0: // ref.null: a reference type
		return skipValueType(p, pos)
	case op == 0xfc, op == 0xfd, op == 0xfe: // prefixed: a sub-opcode follows
		sub, pos, err := readU32(p, pos)
		if err != nil {
			return 0, err
		}
		return prefixed[op-0xfc](p, pos, sub)
	}
	return 0, fmt.Errorf("unknown opcode %#x", op)
}

// prefixed skips the immediates of the 0xFC, 0xFD and 0xFE instructions
// by sub-opcode.
var prefixed = [...]func(p []byte, pos int, sub uint32) (int, error){skipMisc, skipVector, skipAtomic}

// skipMisc skips a 0xFC-prefixed instruction: saturating truncation,
// bulk memory and table instructions.
func skipMisc(p []byte, pos int, sub uint32) (int, error) {
	switch {
	case sub <= 7: // trunc_sat
		return pos, nil
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17: // data.drop memory.fill elem.drop table.grow/size/fill
		return skipU32s(p, pos, 1)
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init memory.copy table.init table.copy
		return skipU32s(p, pos, 2)
	}
	return 0, fmt.Errorf("unknown opcode 0xfc %d", sub)
}

// skipVector skips a 0xFD-prefixed (SIMD) instruction.
func skipVector(p []byte, pos int, sub uint32) (int, error) {
	switch {
	case sub <= 0x0b, sub == 0x5c, sub == 0x5d: // v128 loads and store, load32/64_zero
		return skipMemArg(p, pos)
	case sub == 0x0c, sub == 0x0d: // v128.const, i8x16.shuffle
		return skipBytes(p, pos, 16)
	case sub >= 0x15 && sub <= 0x22: // extract_lane, replace_lane: the lane
		return skipBytes(p, pos, 1)
	case sub >= 0x54 && sub <= 0x5b: // load_lane, store_lane: memarg, lane
		pos, err := skipMemArg(p, pos)
		if err != nil {
			return 0, err
		}
		return skipBytes(p, pos, 1)
	case sub <= 0x113: // every other vector instruction has no immediate
		return pos, nil
	}
	return 0, fmt.Errorf("unknown opcode 0xfd %d", sub)
}

// skipAtomic skips a 0xFE-prefixed (threads) instruction.
func skipAtomic(p []byte, pos int, sub uint32) (int, error) {
	switch {
	case sub == 0x03: // atomic.fence: a reserved byte
		return skipBytes(p, pos, 1)
	case sub <= 0x02, sub >= 0x10 && sub <= 0x4e: // notify, wait, loads, stores, RMW
		return skipMemArg(p, pos)
	}
	return 0, fmt.Errorf("unknown opcode 0xfe %d", sub)
}
