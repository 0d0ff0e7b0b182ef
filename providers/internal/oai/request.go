// Package oai holds what the provider adapters share about OpenAI's side of the translation:
// the chat-completions request as decoded once, the chunk and completion bodies written back,
// and the error types. It is internal so the adapters' public surface stays their own.
package oai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Request is an OpenAI chat-completions request, reduced to what a translator reads. Fields
// no provider understands (logprobs, stream_options, …) are ignored, as OpenAI-compatible
// gateways do. Polymorphic fields (content, stop, tool_choice) decode leniently and are checked
// in Validate, which can then name the offending message by index.
type Request struct {
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int64          `json:"top_k"`
	Stop                Stop            `json:"stop"`
	Stream              bool            `json:"stream"`
	N                   *int64          `json:"n"`
	Seed                *int64          `json:"seed"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	User                string          `json:"user"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	Reasoning           *Reasoning      `json:"reasoning"`
	ResponseFormat      *ResponseFormat `json:"response_format"`
}

// Message is one chat message. Content is absent or null for assistant messages that only
// call tools.
type Message struct {
	Role         string          `json:"role"`
	Content      Content         `json:"content"`
	Name         string          `json:"name"`
	ToolCalls    []ToolCall      `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	CacheControl json.RawMessage `json:"cache_control"` // some clients mark a whole message
}

// Content is a message's content: a string, or an array of parts.
type Content struct {
	Set      bool // present and not null
	IsString bool
	Text     string
	Parts    []Part
	bad      bool // neither a string, an array of parts nor null
}

// Part is one content part. CacheControl is OpenRouter's (and Anthropic's) breakpoint marker,
// kept raw so it reaches Anthropic exactly as the client wrote it.
type Part struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ImageURL     *ImageURL       `json:"image_url"`
	File         *File           `json:"file"`
	InputAudio   *InputAudio     `json:"input_audio"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// ImageURL is an image part's reference: a data: URL or an http(s) URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail"`
}

// File is a file part (PDFs); only inline data URLs can be translated.
type File struct {
	FileData string `json:"file_data"`
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
}

// InputAudio is base64 audio with its format ("wav", "mp3").
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// ToolCall is an assistant's call of a function tool; Arguments is JSON text.
type ToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Tool is a function tool the model may call.
type Tool struct {
	Type         string          `json:"type"`
	Function     *FunctionDef    `json:"function"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// FunctionDef describes a function tool; Parameters is a JSON Schema object, kept raw.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// Reasoning is OpenRouter's unified reasoning setting.
type Reasoning struct {
	Effort    string `json:"effort"`
	MaxTokens *int64 `json:"max_tokens"`
	Exclude   bool   `json:"exclude"`
	Enabled   *bool  `json:"enabled"`
}

// ResponseFormat is OpenAI's structured-output request.
type ResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// Stop is OpenAI's stop: a string or an array of strings.
type Stop struct {
	Seqs []string
	bad  bool
}

func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		c.Set, c.IsString = true, true
		return UnmarshalNative(b, &c.Text)
	case b[0] == '[':
		// b is a whole, valid JSON value, so any failure is a part of the wrong shape, which
		// validate reports with the message's index.
		c.Set = true
		if UnmarshalNative(b, &c.Parts) != nil {
			c.Parts, c.bad = nil, true
		}
		return nil
	}
	c.Set, c.bad = true, true
	return nil
}

func (s *Stop) UnmarshalJSON(b []byte) error {
	*s = Stop{}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var one string
		if err := UnmarshalNative(b, &one); err != nil {
			return err
		}
		s.Seqs = []string{one}
		return nil
	case b[0] == '[':
		if UnmarshalNative(b, &s.Seqs) != nil {
			s.Seqs, s.bad = nil, true
		}
		return nil
	}
	s.bad = true
	return nil
}

// Decode parses an OpenAI chat-completions body and checks what every translation relies on.
// Errors are *RequestError. Strings in r may alias body.
//
// The fast decoder does the work; when it fails, encoding/json decodes again, only to name the
// offending field in its error.
func Decode(body []byte, r *Request) error {
	if UnmarshalNative(body, r) == nil {
		return r.validate()
	}
	*r = Request{}
	if err := json.Unmarshal(body, r); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			if te.Field == "" {
				return &RequestError{Message: "request body must be a JSON object"}
			}
			return &RequestError{Field: te.Field, Message: "expected " + jsonKind(te.Type.Kind().String()) + ", got " + te.Value}
		case errors.As(err, &se):
			return &RequestError{Message: "request body is not valid JSON"}
		}
		return &RequestError{Message: "request body is not valid JSON: " + err.Error()}
	}
	return r.validate()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int64", "int":
		return "an integer"
	case "float64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return goKind
}

func (r *Request) validate() error {
	if len(r.Messages) == 0 {
		return &RequestError{Field: "messages", Message: "at least one message is required"}
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Content.bad {
			return &RequestError{Field: MsgField(i, "content"), Message: "must be a string, an array of content parts, or null"}
		}
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		case "":
			return &RequestError{Field: MsgField(i, "role"), Message: "is required"}
		case "function":
			return &RequestError{Field: MsgField(i, "role"), Message: `"function" messages are deprecated and not translated; use tools, tool_calls and "tool" messages`}
		default:
			return &RequestError{Field: MsgField(i, "role"), Message: "unknown role " + strconv.Quote(m.Role) +
				"; use system, developer, user, assistant or tool"}
		}
		if m.Role == "tool" && m.ToolCallID == "" {
			return &RequestError{Field: MsgField(i, "tool_call_id"), Message: "is required on tool messages"}
		}
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			f := MsgField(i, "tool_calls["+strconv.Itoa(j)+"]")
			if tc.Function.Name == "" {
				return &RequestError{Field: f + ".function.name", Message: "is required"}
			}
			if tc.ID == "" {
				return &RequestError{Field: f + ".id", Message: "is required"}
			}
			if !ValidArguments(tc.Function.Arguments) {
				return &RequestError{Field: f + ".function.arguments", Message: "must be a JSON object encoded as a string"}
			}
		}
	}
	if r.Stop.bad {
		return &RequestError{Field: "stop", Message: "must be a string or an array of strings"}
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		f := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" || t.Function == nil {
			return &RequestError{Field: f + ".type", Message: `only "function" tools can be translated`}
		}
		if t.Function.Name == "" {
			return &RequestError{Field: f + ".function.name", Message: "is required"}
		}
		if !IsNull(t.Function.Parameters) && !IsObject(t.Function.Parameters) {
			return &RequestError{Field: f + ".function.parameters", Message: "must be a JSON Schema object"}
		}
	}
	if r.N != nil && *r.N != 1 {
		return &RequestError{Field: "n", Message: "only one choice (n = 1) can be requested from this provider"}
	}
	for _, p := range []struct {
		name string
		v    *int64
	}{{"max_tokens", r.MaxTokens}, {"max_completion_tokens", r.MaxCompletionTokens}} {
		if p.v != nil && *p.v < 1 {
			return &RequestError{Field: p.name, Message: "must be at least 1"}
		}
	}
	if r.Reasoning != nil && r.Reasoning.MaxTokens != nil && *r.Reasoning.MaxTokens < 0 {
		return &RequestError{Field: "reasoning.max_tokens", Message: "must not be negative"}
	}
	_, err := r.ToolChoiceSpec()
	return err
}

// ValidArguments reports whether a tool call's arguments string is a JSON object (or empty,
// which some clients send for argument-less calls).
func ValidArguments(s string) bool {
	if len(bytes.TrimSpace([]byte(s))) == 0 {
		return true
	}
	return json.Valid([]byte(s)) && IsObject([]byte(s))
}

// MsgField names a field of message i.
func MsgField(i int, field string) string {
	return "messages[" + strconv.Itoa(i) + "]." + field
}

// PartField names a field of part j of message i's content.
func PartField(i, j int, field string) string {
	return "messages[" + strconv.Itoa(i) + "].content[" + strconv.Itoa(j) + "]" + field
}

// MaxOutput is the client's output cap: the smaller of max_tokens and max_completion_tokens, 0
// when neither is set.
func (r *Request) MaxOutput() int64 {
	var c int64
	for _, v := range []*int64{r.MaxTokens, r.MaxCompletionTokens} {
		if v != nil && (c == 0 || *v < c) {
			c = *v
		}
	}
	return c
}

// ToolChoice is the client's tool_choice, normalised.
type ToolChoice struct {
	Mode string // "", "auto", "none", "required", "function"
	Name string // for "function"
}

// ToolChoiceSpec parses tool_choice: "auto" | "none" | "required" | {"type":"function",
// "function":{"name":…}}.
func (r *Request) ToolChoiceSpec() (ToolChoice, error) {
	if IsNull(r.ToolChoice) {
		return ToolChoice{}, nil
	}
	var s string
	if json.Unmarshal(r.ToolChoice, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return ToolChoice{Mode: s}, nil
		}
		return ToolChoice{}, &RequestError{Field: "tool_choice", Message: `must be "auto", "none", "required" or {"type":"function","function":{"name":…}}`}
	}
	var o struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(r.ToolChoice, &o) != nil || o.Type != "function" || o.Function.Name == "" {
		return ToolChoice{}, &RequestError{Field: "tool_choice", Message: `must be "auto", "none", "required" or {"type":"function","function":{"name":…}}`}
	}
	return ToolChoice{Mode: "function", Name: o.Function.Name}, nil
}
