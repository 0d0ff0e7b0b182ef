package mockllm

import (
	"strings"
	"unicode/utf8"
)

// words is the fixed vocabulary for generated completions. Plain lowercase
// ASCII keeps every token one JSON-safe word, so the hot streaming path never
// has to escape generated text. Changing this list changes every generated
// answer, which tests elsewhere may have pinned: append only if you must.
var words = [...]string{
	"the", "model", "answers", "with", "a", "short", "and", "steady", "stream",
	"of", "plain", "words", "that", "mean", "nothing", "but", "look", "like",
	"text", "from", "an", "upstream", "provider", "so", "gateways", "can",
	"count", "tokens", "measure", "latency", "route", "retry", "cache", "bill",
	"every", "request", "without", "paying", "for", "real", "inference", "on",
	"busy", "days", "quiet", "nights", "small", "fast", "clear", "simple",
	"river", "stone", "light", "signal", "bridge", "harbor", "engine", "garden",
	"window", "number", "system", "answer", "question", "moment",
}

// spaced holds " "+word for every word, so streaming a generated token never
// allocates.
var spaced = func() (s [len(words)]string) {
	for i, w := range words {
		s[i] = " " + w
	}
	return s
}()

// completionText is the content of one completion as a sequence of tokens;
// each token is one streamed content event and their concatenation is the
// non-streaming message content. It is either a fixed reply cut into words
// (with their leading whitespace) or a deterministic word sequence.
type completionText struct {
	segs  []string // fixed reply segments; nil for generated text
	n     int      // tokens to emit (after max_tokens capping)
	total int      // tokens before capping; the last one ends the sentence
	rng   uint64   // generator state for generated text
	i     int      // next token index
}

// newGeneratedText returns total deterministic words seeded by seed, of which
// only the first n are emitted.
func newGeneratedText(seed uint64, total, n int) completionText {
	return completionText{n: n, total: total, rng: seed}
}

// newReplyText cuts reply into word tokens so that the tokens concatenate back
// to exactly reply: each token is a word with the whitespace before it, and
// trailing whitespace belongs to the last token.
func newReplyText(reply string, capTokens int) completionText {
	var segs []string
	start := 0
	for i := 0; i < len(reply); {
		for i < len(reply) && isSpace(reply[i]) {
			i++
		}
		for i < len(reply) && !isSpace(reply[i]) {
			i++
		}
		// Glue a trailing-whitespace-only remainder onto this token.
		j := i
		for j < len(reply) && isSpace(reply[j]) {
			j++
		}
		if j == len(reply) {
			i = j
		}
		segs = append(segs, reply[start:i])
		start = i
	}
	n := len(segs)
	if capTokens > 0 && capTokens < n {
		n = capTokens
	}
	return completionText{segs: segs, n: n, total: len(segs)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// next returns the next token and false once n tokens have been returned.
func (t *completionText) next() (string, bool) {
	if t.i >= t.n {
		return "", false
	}
	i := t.i
	t.i++
	if t.segs != nil {
		return t.segs[i], true
	}
	t.rng = splitmix64(t.rng)
	w := t.rng % uint64(len(words))
	switch {
	case i == 0 && t.total == 1:
		return capitalize(words[w]) + ".", true
	case i == 0:
		return capitalize(words[w]), true
	case i == t.total-1:
		return spaced[w] + ".", true
	}
	return spaced[w], true
}

// rest concatenates the tokens not yet returned by next; used for non-streaming
// responses.
func (t *completionText) rest() string {
	var sb strings.Builder
	for {
		s, ok := t.next()
		if !ok {
			return sb.String()
		}
		sb.WriteString(s)
	}
}

// cutAtStop ends t just before the earliest occurrence of any of stops in the text it would
// produce, and returns the stop sequence found. Providers never send the stop sequence itself.
// Used by the Anthropic and Gemini modes, whose requests carry stop sequences the mock honours.
func (t *completionText) cutAtStop(stops []string) (string, bool) {
	if len(stops) == 0 {
		return "", false
	}
	probe := *t
	var toks []string
	for {
		tok, ok := probe.next()
		if !ok {
			break
		}
		toks = append(toks, tok)
	}
	full := strings.Join(toks, "")
	at, seq := -1, ""
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(full, s); i >= 0 && (at < 0 || i < at) {
			at, seq = i, s
		}
	}
	if at < 0 {
		return "", false
	}
	segs := []string{}
	pos := 0
	for _, tok := range toks {
		if pos+len(tok) > at {
			if at > pos {
				segs = append(segs, tok[:at-pos])
			}
			break
		}
		segs = append(segs, tok)
		pos += len(tok)
	}
	*t = completionText{segs: segs, n: len(segs), total: len(segs)}
	return seq, true
}

func capitalize(w string) string { return string(w[0]-'a'+'A') + w[1:] }

// splitmix64 is a tiny, well-mixed PRNG step: deterministic across platforms
// and Go versions, unlike math/rand's unspecified sources.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// fnv64a is an incremental FNV-1a hash, used to seed generated text from the
// request so the same request always gets the same answer.
type fnv64a uint64

func newFNV() fnv64a { return 14695981039346656037 }

func (h *fnv64a) add(s string) {
	x := uint64(*h)
	for i := 0; i < len(s); i++ {
		x ^= uint64(s[i])
		x *= 1099511628211
	}
	*h = fnv64a(x)
}

// toolDefinitionTokens is what one declared tool adds to the prompt estimate in every wire
// format: one token per four bytes of its name, description and parameter schema.
func toolDefinitionTokens(name, description string, schema []byte) int {
	return ceilDiv4(len(name) + len(description) + len(schema))
}

// ceilDiv4 is the "one token per four bytes" prompt estimate.
func ceilDiv4(n int) int { return (n + 3) / 4 }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. It escapes exactly
// what encoding/json does (quotes, backslashes, control characters, <, >, &,
// U+2028/9 and invalid UTF-8) so hand-built events stay valid JSON without
// paying for reflection on every streamed token.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendRandomID appends n characters of [0-9A-Za-z] derived from x, giving
// IDs that look like OpenAI's ("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT").
func appendRandomID(dst []byte, x uint64, n int) []byte {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := 0; i < n; i++ {
		x = splitmix64(x)
		dst = append(dst, alphabet[x%uint64(len(alphabet))])
	}
	return dst
}

// usageCounts is the token accounting of one completion, independent of how
// a wire format spells it.
type usageCounts struct {
	prompt, cached, content, reasoning int
}

func (u usageCounts) completion() int { return u.content + u.reasoning }
func (u usageCounts) total() int      { return u.prompt + u.completion() }

// planCompletion decides, for any wire format, what a request gets: its
// tokens, whether they were cut short by the request's token cap (finish
// reason "length"), and the usage to report. seed identifies the request for
// generated text; capTokens <= 0 means no cap.
func planCompletion(b *Behavior, seed uint64, promptTokens, capTokens int) (completionText, usageCounts, bool) {
	var text completionText
	if b.Reply != "" {
		text = newReplyText(b.Reply, capTokens)
	} else {
		total := b.Tokens
		if total <= 0 {
			total = DefaultTokens
		}
		n := total
		if capTokens > 0 && capTokens < n {
			n = capTokens
		}
		text = newGeneratedText(seed, total, n)
	}
	u := usageCounts{
		prompt:    promptTokens,
		cached:    min(b.CachedTokens, promptTokens),
		content:   text.n,
		reasoning: b.ReasoningTokens,
	}
	return text, u, text.n < text.total
}
