package redact

import (
	"iter"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Placeholders look like [[EMAIL_1]], [[SECRET_2]], [[TERM_3]]: double
// brackets, an upper-case group, an underscore and a number. Models copy
// them faithfully in prose and in code (they are valid inside strings,
// comments and most identifiers' surroundings, and do not look like
// anything to "fix").
const maxPlaceholderLen = 64

// placeholderGroup maps a finding type to its placeholder group.
func placeholderGroup(typ string, kind Kind) string {
	switch typ {
	case "email", "phone", "iban", "nir", "siren", "siret", "card", "passport", "id_card":
		return strings.ToUpper(typ)
	case "custom:term":
		return "TERM"
	}
	if kind == KindCustom {
		name := strings.TrimPrefix(typ, "custom:")
		var b strings.Builder
		for i := 0; i < len(name) && b.Len() < 24; i++ {
			c := name[i]
			switch {
			case 'a' <= c && c <= 'z':
				b.WriteByte(c - 'a' + 'A')
			case 'A' <= c && c <= 'Z', '0' <= c && c <= '9' && b.Len() > 0:
				b.WriteByte(c)
			default:
				if b.Len() > 0 {
					b.WriteByte('_')
				}
			}
		}
		if g := strings.TrimRight(b.String(), "_"); g != "" {
			return g
		}
		return "CUSTOM"
	}
	if kind == KindPersonal {
		return "PERSONAL"
	}
	return "SECRET"
}

// Vault holds the value↔placeholder mapping for one request or one
// conversation. Safe for concurrent use. Placeholders are numbered per group
// in order of first appearance; the same value always gets the same
// placeholder; a placeholder is never issued if it ever appeared in a text
// given to Redact, so masking then restoring gives back the text exactly,
// even if it already contained placeholder-like strings.
type Vault struct {
	mu       sync.RWMutex
	byValue  map[string]string
	byPh     map[string]string
	last     map[string]int
	reserved map[string]bool
	sorted   []string // issued placeholders, sorted (nil: to rebuild)
}

// NewVault returns an empty vault.
func NewVault() *Vault {
	return &Vault{
		byValue:  map[string]string{},
		byPh:     map[string]string{},
		last:     map[string]int{},
		reserved: map[string]bool{},
	}
}

// Len is the number of placeholders issued.
func (v *Vault) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.byPh)
}

// placeholderTokens yields the start and end of each placeholder-shaped
// token of s, in order.
func placeholderTokens(s string) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for off := 0; off < len(s); {
			j := strings.Index(s[off:], "[[")
			if j < 0 {
				return
			}
			i := off + j
			e := placeholderAt(s, i)
			if e < 0 {
				off = i + 1
				continue
			}
			if !yield(i, e) {
				return
			}
			off = e
		}
	}
}

// placeholderAt returns the end of a placeholder-shaped token
// ([[A-Z][A-Z0-9_]*_[0-9]+]]) starting at i, or -1.
func placeholderAt(s string, i int) int {
	if i+2 > len(s) || s[i] != '[' || s[i+1] != '[' {
		return -1
	}
	j := i + 2
	if j >= len(s) || !isUpper(s[j]) {
		return -1
	}
	limit := minInt(len(s), i+maxPlaceholderLen)
	for j < limit && (isUpper(s[j]) || isDigit(s[j]) || s[j] == '_') {
		j++
	}
	if j+1 >= len(s) || j+2 > limit || s[j] != ']' || s[j+1] != ']' {
		return -1
	}
	// must end in _<digits>
	k := j
	for k > i+2 && isDigit(s[k-1]) {
		k--
	}
	if k == j || s[k-1] != '_' {
		return -1
	}
	return j + 2
}

// stripPlaceholders removes placeholder-shaped tokens from s.
func stripPlaceholders(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if e := placeholderAt(s, i); e > 0 {
			i = e
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// mask replaces the findings (sorted, non-overlapping) with placeholders.
// Placeholder-shaped tokens in text are reserved; those this vault already
// issued are masked too (as their own literal value), so Restore cannot
// turn them into something else.
func (v *Vault) mask(text string, fs []Finding) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	type span struct {
		s, e  int
		group string
	}
	var spans []span
	// Reserve every placeholder-shaped token of the input; collect issued
	// ones lying outside findings.
	fi := 0
	for i, e := range placeholderTokens(text) {
		ph := text[i:e]
		if _, issued := v.byPh[ph]; issued {
			for fi < len(fs) && fs[fi].End <= i {
				fi++
			}
			if fi >= len(fs) || fs[fi].Start >= e {
				g := ph[2:strings.LastIndexByte(ph, '_')]
				spans = append(spans, span{i, e, g})
			}
		} else {
			v.reserved[ph] = true
		}
	}
	if len(fs) == 0 && len(spans) == 0 {
		return text
	}
	for _, f := range fs {
		spans = append(spans, span{f.Start, f.End, placeholderGroup(f.Type, f.Kind)})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].s < spans[j].s })
	var b strings.Builder
	b.Grow(len(text) + 8*len(spans))
	last := 0
	for _, sp := range spans {
		if sp.s < last {
			continue // cannot happen: findings do not overlap escaped tokens
		}
		b.WriteString(text[last:sp.s])
		b.WriteString(v.placeholderLocked(text[sp.s:sp.e], sp.group))
		last = sp.e
	}
	b.WriteString(text[last:])
	return b.String()
}

func (v *Vault) placeholderLocked(value, group string) string {
	if ph, ok := v.byValue[value]; ok {
		return ph
	}
	n := v.last[group]
	var ph string
	for {
		n++
		ph = "[[" + group + "_" + strconv.Itoa(n) + "]]"
		if !v.reserved[ph] {
			if _, taken := v.byPh[ph]; !taken {
				break
			}
		}
	}
	v.last[group] = n
	v.byValue[value] = ph
	v.byPh[ph] = value
	v.sorted = nil
	return ph
}

// Restore replaces every placeholder this vault issued with its value.
// Anything else — placeholders it did not issue, invented or mangled ones —
// is left as is.
func (v *Vault) Restore(text string) string {
	if strings.IndexByte(text, '[') < 0 {
		return text
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.restoreLocked(text)
}

func (v *Vault) restoreLocked(text string) string {
	if len(v.byPh) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for i, e := range placeholderTokens(text) {
		if val, ok := v.byPh[text[i:e]]; ok {
			if b.Len() == 0 {
				b.Grow(len(text))
			}
			b.WriteString(text[last:i])
			b.WriteString(val)
			last = e
		}
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// isProperPrefixLocked reports whether s is a proper prefix of an issued
// placeholder.
func (v *Vault) isProperPrefixLocked(s string) bool {
	if v.sorted == nil {
		return v.isProperPrefixSlow(s)
	}
	k := sort.SearchStrings(v.sorted, s)
	for ; k < len(v.sorted) && strings.HasPrefix(v.sorted[k], s); k++ {
		if len(v.sorted[k]) > len(s) {
			return true
		}
	}
	return false
}

func (v *Vault) isProperPrefixSlow(s string) bool {
	for ph := range v.byPh {
		if len(ph) > len(s) && strings.HasPrefix(ph, s) {
			return true
		}
	}
	return false
}

// ensureSorted rebuilds the sorted placeholder index (write lock held).
func (v *Vault) ensureSorted() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sorted != nil {
		return
	}
	s := make([]string, 0, len(v.byPh))
	for ph := range v.byPh {
		s = append(s, ph)
	}
	sort.Strings(s)
	v.sorted = s
}
