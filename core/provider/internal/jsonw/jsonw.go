// Package jsonw writes JSON strings fast, for fakellm's answers, so that
// the fake model costs little in benchmarks: the same output as
// encoding/json without HTML escaping.
package jsonw

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Like encoding/json without HTML
// escaping, it escapes U+2028 and U+2029 and turns invalid UTF-8 into
// U+FFFD. Runs of plain ASCII are skipped 8 bytes at a time.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainASCII8(load64(s, i)) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// load64 returns the 8 bytes of s at i, little-endian (one load once
// compiled).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainASCII8 reports whether the 8 bytes of w are all printable ASCII
// other than '"' and '\\'.
func plainASCII8(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	less := (w - 0x20*lo) &^ w & hi // a byte < 0x20
	q := w ^ ('"' * lo)
	quote := (q - lo) &^ q & hi // a byte == '"'
	bs := w ^ ('\\' * lo)
	backslash := (bs - lo) &^ bs & hi // a byte == '\\'
	return (w&hi)|less|quote|backslash == 0
}
