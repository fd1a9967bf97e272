package bib

import (
	"strings"
	"unicode/utf8"
)

// accents maps an accent command to the combining mark it puts on a
// letter; composed maps accent+letter to the precomposed character for the
// usual ones (others keep the combining mark, which displays the same).
var accents = map[byte]rune{
	'\'': '\u0301', '`': '\u0300', '^': '\u0302', '"': '\u0308', '~': '\u0303', '=': '\u0304', '.': '\u0307',
	'c': '\u0327', 'v': '\u030C', 'u': '\u0306', 'H': '\u030B', 'k': '\u0328', 'r': '\u030A', 'd': '\u0323', 'b': '\u0331',
}

var composed = map[string]string{}

func init() {
	table := map[byte]string{
		'\'': "aáeéiíoóuúyýcćnńsśzźlĺrŕgǵAÁEÉIÍOÓUÚYÝCĆNŃSŚZŹLĹRŔ",
		'`':  "aàeèiìoòuùAÀEÈIÌOÒUÙ",
		'^':  "aâeêiîoôuûcĉgĝhĥjĵsŝwŵyŷAÂEÊIÎOÔUÛ",
		'"':  "aäeëiïoöuüyÿAÄEËIÏOÖUÜYŸ",
		'~':  "aãnñoõAÃNÑOÕ",
		'=':  "aāeēiīoōuūAĀEĒIĪOŌUŪ",
		'.':  "zżeėgġcċIİZŻ",
		'c':  "cçsşgģkķlļnņrŗtţCÇSŞ",
		'v':  "cčsšzžrřeěnňdďtťCČSŠZŽRŘEĚNŇDĎTŤ",
		'u':  "aăgğuŭAĂGĞ",
		'H':  "oőuűOŐUŰ",
		'k':  "aąeęAĄEĘ",
		'r':  "aåuůAÅUŮ",
	}
	for acc, pairs := range table {
		rs := []rune(pairs)
		for i := 0; i+1 < len(rs); i += 2 {
			composed[string(acc)+string(rs[i])] = string(rs[i+1])
		}
	}
}

// symbols are the letter-like commands.
var symbols = map[string]string{
	"ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "aa": "å", "AA": "Å",
	"l": "ł", "L": "Ł", "i": "ı", "j": "ȷ", "dh": "ð", "DH": "Ð", "th": "þ", "TH": "Þ", "ng": "ŋ", "NG": "Ŋ",
	"textendash": "–", "textemdash": "—", "ldots": "…", "dots": "…", "textellipsis": "…",
	"guillemotleft": "«", "guillemotright": "»", "og": "«", "fg": "»", "textquoteright": "’", "textquoteleft": "‘",
	"copyright": "©", "textregistered": "®", "texttrademark": "™", "textdegree": "°", "S": "§", "P": "¶",
	"LaTeX": "LaTeX", "TeX": "TeX", "BibTeX": "BibTeX", "space": " ", "quad": " ", "qquad": " ",
	"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "lambda": "λ", "mu": "μ", "pi": "π",
	"sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω", "Omega": "Ω", "Delta": "Δ", "Gamma": "Γ",
}

// Text turns a BibTeX value into display text: accents resolved ({\'e},
// \'{e}, \"o → é, é, ö), letter commands (\ss, \o, \ae), escapes (\&,
// \%), dashes (--, ---) and ties; braces dropped; formatting commands
// (\emph{x}, \textbf{x}) reduced to their argument; white space
// collapsed. Math ($…$) keeps its content without the dollars.
func Text(s string) string {
	if !strings.ContainsAny(s, "\\{}~$-\n\t\r") && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '{', '}', '$':
			i++
		case '~':
			b.WriteByte(' ')
			i++
		case '-':
			switch {
			case strings.HasPrefix(s[i:], "---"):
				b.WriteString("—")
				i += 3
			case strings.HasPrefix(s[i:], "--"):
				b.WriteString("–")
				i += 2
			default:
				b.WriteByte('-')
				i++
			}
		case '\\':
			i = command(s, i, &b)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// command writes the display text of the command at s[i] (a backslash)
// and returns the offset after it.
func command(s string, i int, b *strings.Builder) int {
	if i+1 >= len(s) {
		return i + 1
	}
	c := s[i+1]
	if mark, ok := accents[c]; ok && (!isLetter(c) || i+2 >= len(s) || !isLetter(s[i+2])) {
		// \'e \'{e} \c c \c{c} \"{\i}
		j := i + 2
		for isLetter(c) && j < len(s) && s[j] == ' ' {
			j++
		}
		var letter string
		if j < len(s) && s[j] == '{' {
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				return j
			}
			letter = s[j+1 : j+end]
			j += end + 1
		} else if j+1 < len(s) && s[j] == '\\' && isLetter(s[j+1]) {
			k := j + 1
			for k < len(s) && isLetter(s[k]) {
				k++
			}
			letter = s[j:k]
			j = k
		} else if j < len(s) {
			_, n := utf8.DecodeRuneInString(s[j:])
			letter = s[j : j+n]
			j += n
		}
		letter = strings.TrimSpace(letter)
		if letter == "\\i" || letter == "\\j" {
			letter = letter[1:]
		}
		if comp, ok := composed[string(c)+letter]; ok {
			b.WriteString(comp)
		} else if letter != "" {
			b.WriteString(Text(letter))
			b.WriteRune(mark)
		}
		return j
	}
	if !isLetter(c) {
		// \& \% \$ \_ \# \{ \} \\ \, \;
		switch c {
		case ',', ';', ':', '!', ' ':
			b.WriteByte(' ')
		case '\\':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
		return i + 2
	}
	j := i + 1
	for j < len(s) && isLetter(s[j]) {
		j++
	}
	name := s[i+1 : j]
	if sym, ok := symbols[name]; ok {
		b.WriteString(sym)
		// A control word eats the blanks after it, unless it is a
		// letter inside a word ({\o}rsted) — braces handle that.
		for j < len(s) && s[j] == ' ' && (j+1 >= len(s) || s[j+1] != ' ') && isLetterSymbol(name) {
			j++
			break
		}
		return j
	}
	// Any other command (\emph, \textit, \url, \mbox…): dropped, its
	// argument kept.
	return j
}

func isLetterSymbol(name string) bool {
	switch name {
	case "ss", "o", "O", "ae", "AE", "oe", "OE", "aa", "AA", "l", "L", "i", "j":
		return true
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
