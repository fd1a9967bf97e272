package provider

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file reads the few fields timon needs out of an endpoint's JSON
// answers without reflection: encoding/json into minimal structs spends
// about 30µs and 13 allocations on a 4 KB chat answer and 3µs and 10
// allocations on each 200-byte stream chunk, more than the rest of the
// client; jsonReader about 8µs and 0.4µs, with one allocation each, the
// text itself (BenchmarkReadAnswer, BenchmarkReadChunk). The reader
// follows RFC 8259 and encoding/json's string semantics (invalid UTF-8 and
// lone surrogates read as U+FFFD); anything it refuses is decoded again with
// encoding/json (see decodeAnswer and decodeChunk), so it can only be faster,
// never stricter. Tests compare both on fuzzed input.

// errBadJSON marks what jsonReader refuses. It does not leave the package:
// the encoding/json fallback has the last word.
var errBadJSON = errors.New("answer is not valid JSON")

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonReader walks one JSON document. Methods record the first error and
// then move to the end of the input, so that loops over objects and arrays
// stop by themselves; check err once at the end.
type jsonReader struct {
	data []byte
	pos  int
	err  error
	// scratch holds strings that needed unescaping; a string read returns a
	// view into data or scratch, valid until the next string read.
	scratch []byte
	// keyScratch is scratch for keys.
	keyScratch []byte
}

func (r *jsonReader) reset(data []byte) {
	r.data, r.pos, r.err = data, 0, nil
}

func (r *jsonReader) fail() {
	if r.err == nil {
		r.err = errBadJSON
	}
	r.pos = len(r.data)
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (r *jsonReader) peek() byte {
	for r.pos < len(r.data) {
		switch c := r.data[r.pos]; c {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return c
		}
	}
	return 0
}

// atEnd reports whether only whitespace is left.
func (r *jsonReader) atEnd() bool {
	return r.peek() == 0 && r.pos == len(r.data)
}

// object starts reading an object; it reports false for null (or on error).
// Read the members with member.
func (r *jsonReader) object() bool {
	switch r.peek() {
	case '{':
		r.pos++
		return true
	case 'n':
		r.literal("null")
	default:
		r.fail()
	}
	return false
}

// member reads the next key of the object being read and the colon after
// it, or reports false at the closing brace. first tells whether it is the
// first call for this object. The key is valid until the next member call.
// Unlike encoding/json, keys match field names exactly, not regardless of
// case, as openai-go matched them.
func (r *jsonReader) member(first bool) ([]byte, bool) {
	c := r.peek()
	if c == '}' {
		r.pos++
		return nil, false
	}
	if !first {
		if c != ',' {
			r.fail()
			return nil, false
		}
		r.pos++
		c = r.peek()
	}
	if c != '"' {
		r.fail()
		return nil, false
	}
	key, escaped := r.rawString()
	if escaped || !utf8.Valid(key) {
		r.keyScratch = unquote(r.keyScratch[:0], key)
		key = r.keyScratch
	}
	if r.peek() != ':' {
		r.fail()
		return nil, false
	}
	r.pos++
	return key, r.err == nil
}

// array starts reading an array; it reports false for null (or on error).
// Read the elements with element.
func (r *jsonReader) array() bool {
	switch r.peek() {
	case '[':
		r.pos++
		return true
	case 'n':
		r.literal("null")
	default:
		r.fail()
	}
	return false
}

// element reports whether another element follows in the array being read,
// consuming the comma before it, or consumes the closing bracket.
func (r *jsonReader) element(first bool) bool {
	c := r.peek()
	if c == ']' {
		r.pos++
		return false
	}
	if !first {
		if c != ',' {
			r.fail()
			return false
		}
		r.pos++
	}
	return r.err == nil
}

func (r *jsonReader) literal(lit string) {
	if len(r.data)-r.pos >= len(lit) && string(r.data[r.pos:r.pos+len(lit)]) == lit {
		r.pos += len(lit)
		return
	}
	r.fail()
}

// text reads a value meant to be a string and returns its bytes: a string
// is unescaped; null is nil; any other value is returned as its JSON text,
// as openai-go does (a number finish_reason reads as "5", an array content
// as its JSON). The result is valid until the next string read.
func (r *jsonReader) text() []byte {
	switch c := r.peek(); c {
	case '"':
		return r.str()
	case 'n':
		r.literal("null")
		return nil
	default:
		start := r.pos
		r.skip()
		return r.data[start:r.pos]
	}
}

// integer reads a value meant to be an integer the way openai-go read it:
// fractions are truncated, numbers beyond the int64 range saturate, a
// string holding a number reads as that number, true as 1, anything else
// as 0.
func (r *jsonReader) integer() int {
	var num []byte
	switch c := r.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		start := r.pos
		if r.number() {
			if n, err := strconv.ParseInt(string(r.data[start:r.pos]), 10, 64); err == nil {
				return int(n)
			}
		}
		num = r.data[start:r.pos]
	case c == '"':
		num = r.str()
	case c == 't':
		r.literal("true")
		return 1
	default:
		r.skip()
		return 0
	}
	f, err := strconv.ParseFloat(string(num), 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange), f != f:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int(f)
}

// number reads a number and reports whether it is written as an integer.
func (r *jsonReader) number() bool {
	d, i := r.data, r.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	default:
		r.fail()
		return false
	}
	isInt := true
	if i < len(d) && d[i] == '.' {
		isInt = false
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			r.fail()
			return false
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		isInt = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			r.fail()
			return false
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	r.pos = i
	return isInt
}

// skip reads any value.
func (r *jsonReader) skip() { r.skipDepth(0) }

func (r *jsonReader) skipDepth(depth int) {
	if depth > maxJSONDepth {
		r.fail()
		return
	}
	switch c := r.peek(); {
	case c == '"':
		r.rawString()
	case c == '{':
		r.pos++
		for first := true; ; first = false {
			if _, ok := r.member(first); !ok {
				break
			}
			r.skipDepth(depth + 1)
		}
	case c == '[':
		r.pos++
		for first := true; r.element(first); first = false {
			r.skipDepth(depth + 1)
		}
	case c == 't':
		r.literal("true")
	case c == 'f':
		r.literal("false")
	case c == 'n':
		r.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		r.number()
	default:
		r.fail()
	}
}

// str reads a string and returns it unescaped, as a view into data when it
// holds no escape and is valid UTF-8, else into scratch.
func (r *jsonReader) str() []byte {
	raw, escaped := r.rawString()
	if r.err != nil {
		return nil
	}
	if !escaped && utf8.Valid(raw) {
		return raw
	}
	if cap(r.scratch) < len(raw) { // unescaping shrinks, but for invalid UTF-8
		r.scratch = make([]byte, 0, len(raw))
	}
	r.scratch = unquote(r.scratch[:0], raw)
	return r.scratch
}

// rawString reads a string (r.pos at its opening quote) and returns its
// content between the quotes, escapes included, checking that it is well
// formed. escaped reports that it holds a backslash.
func (r *jsonReader) rawString() (raw []byte, escaped bool) {
	start := r.pos + 1
	i := start
	q := -1 // index of the next '"' at or after i, once looked for
	for {
		if q < i {
			n := bytes.IndexByte(r.data[i:], '"')
			if n < 0 {
				r.fail()
				return nil, false
			}
			q = i + n
		}
		seg := r.data[i:q]
		b := bytes.IndexByte(seg, '\\')
		if b < 0 {
			if hasControl(seg) {
				r.fail()
				return nil, false
			}
			r.pos = q + 1
			return r.data[start:q], escaped
		}
		// Check the plain run, then one escape, and look again.
		if hasControl(seg[:b]) {
			r.fail()
			return nil, false
		}
		escaped = true
		i += b + 1
		if i >= len(r.data) {
			r.fail()
			return nil, false
		}
		switch r.data[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i++
		case 'u':
			if len(r.data)-i < 5 || !isHex4(r.data[i+1:i+5]) {
				r.fail()
				return nil, false
			}
			i += 5
		default:
			r.fail()
			return nil, false
		}
	}
}

// hasControl reports whether s holds a byte below 0x20, which a JSON string
// may not hold unescaped. It looks at 8 bytes at a time.
func hasControl(s []byte) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+16 <= len(s); i += 16 {
		w0 := binary.LittleEndian.Uint64(s[i:])
		w1 := binary.LittleEndian.Uint64(s[i+8:])
		if ((w0-0x20*lo)&^w0|(w1-0x20*lo)&^w1)&hi != 0 {
			return true
		}
	}
	for _, c := range s[i:] {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hexVal(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote appends the unescaped form of raw, a well-formed string content
// checked by rawString, to dst, the way encoding/json does: invalid UTF-8
// bytes and unpaired surrogates become U+FFFD.
func unquote(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			i++
			switch raw[i] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hexVal(raw[i+1:])
				i += 5
				if utf16.IsSurrogate(rr) {
					if len(raw)-i >= 6 && raw[i] == '\\' && raw[i+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hexVal(raw[i+2:])); dec != utf8.RuneError {
							i += 6
							dst = utf8.AppendRune(dst, dec)
							continue
						}
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, raw[i])
			}
			i++
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(raw) && raw[j] < utf8.RuneSelf && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
		default:
			rr, size := utf8.DecodeRune(raw[i:])
			if rr == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}
