package mockllm

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tool calls. A model decides for itself whether to call a tool; the mock cannot, so it
// calls one exactly when the request forces it (OpenAI "required" or a named function,
// Anthropic "any" or "tool", Gemini mode ANY) and answers in text otherwise. The call is
// deterministic: the named tool, or the first one declared, with arguments built from its
// JSON schema and seeded by the request like generated text.

// toolSpec is a declared tool: its name and its parameters' JSON schema.
type toolSpec struct {
	name   string
	params json.RawMessage
}

// plannedCall is the tool call the mock answers with.
type plannedCall struct {
	name string
	args string // the arguments object, as JSON text
}

// planToolCall picks the tool a forced choice calls: forced names it, or is "" for "any tool",
// the first declared.
func planToolCall(tools []toolSpec, forced string, seed uint64) plannedCall {
	t := tools[0]
	if forced != "" {
		for _, x := range tools {
			if x.name == forced {
				t = x
				break
			}
		}
	}
	return plannedCall{name: t.name, args: argumentsFor(t.params, seed)}
}

// argumentsFor builds an object that satisfies the common shape of a tool's parameters
// schema: each property (in name order) gets its first enum value, or a value of its type: a
// generated word for a string, 1 for a number or integer, true for a boolean, an empty array
// or object. A schema without properties gets {}.
func argumentsFor(params json.RawMessage, seed uint64) string {
	var schema struct {
		Properties map[string]struct {
			Type any   `json:"type"` // a type name, or a list of them
			Enum []any `json:"enum"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(params, &schema) // a schema the mock cannot read gets {}
	names := make([]string, 0, len(schema.Properties))
	for n := range schema.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	words := newGeneratedText(seed, len(names)+1, len(names)+1)
	b := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, n)
		b = append(b, ':')
		p := schema.Properties[n]
		if len(p.Enum) > 0 {
			v, _ := json.Marshal(p.Enum[0])
			b = append(b, v...)
			continue
		}
		typ, _ := p.Type.(string)
		if list, ok := p.Type.([]any); ok && len(list) > 0 {
			typ, _ = list[0].(string)
		}
		word, _ := words.next()
		switch typ {
		case "number", "integer":
			b = strconv.AppendInt(b, 1, 10)
		case "boolean":
			b = append(b, "true"...)
		case "array":
			b = append(b, "[]"...)
		case "object":
			b = append(b, "{}"...)
		default:
			b = appendJSONString(b, strings.Trim(strings.ToLower(word), " ."))
		}
	}
	return string(append(b, '}'))
}

// argumentFragments cuts a call's arguments into the pieces a stream delivers, a few bytes
// each as the providers send them, never inside a UTF-8 sequence. They concatenate back to
// args.
func argumentFragments(args string) completionText {
	const size = 8
	var segs []string
	for len(args) > 0 {
		n := min(size, len(args))
		for n < len(args) && !utf8.RuneStart(args[n]) {
			n++
		}
		segs = append(segs, args[:n])
		args = args[n:]
	}
	return completionText{segs: segs, n: len(segs), total: len(segs)}
}

// usage counts a tool call as completion tokens: one per 4 bytes of its name and arguments,
// plus 4 for the call's framing (as messages are counted in prompts).
func (c plannedCall) tokens() int { return 4 + ceilDiv4(len(c.name)+len(c.args)) }
