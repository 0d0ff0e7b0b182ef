// Package oaitest checks translator output in tests: it decodes OpenAI chunk frames strictly and
// folds them into what a client would assemble.
package oaitest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/arouter/arouter/catalog"
)

// Translator is the stream side of an adapter.
type Translator interface {
	Event(dst, event, data []byte) ([]byte, error)
	Usage() catalog.Usage
	Finished() bool
}

// NormJSON re-encodes s with sorted keys, so tests compare meaning, not key order.
func NormJSON(t testing.TB, s []byte) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %v:\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("trailing data after JSON:\n%s", s)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// Chunk mirrors the chat.completion.chunk frames the translators write.
type Chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning"`
			ToolCalls []struct {
				Index    int     `json:"index"`
				ID       *string `json:"id"`
				Type     *string `json:"type"`
				Function struct {
					Name      *string `json:"name"`
					Arguments string  `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// Frames splits translator output into frames and decodes each strictly.
func Frames(t testing.TB, out []byte) []Chunk {
	t.Helper()
	var cs []Chunk
	for _, f := range strings.SplitAfter(string(out), "\n\n") {
		if f == "" {
			continue
		}
		payload, ok := strings.CutPrefix(f, "data: ")
		if !ok || !strings.HasSuffix(payload, "}\n\n") || strings.Contains(strings.TrimSuffix(payload, "\n\n"), "\n") {
			t.Fatalf("bad frame %q", f)
		}
		dec := json.NewDecoder(strings.NewReader(payload))
		dec.DisallowUnknownFields()
		var c Chunk
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		if c.Object != "chat.completion.chunk" || len(c.Choices) != 1 {
			t.Fatalf("frame %q: not a one-choice chunk", f)
		}
		cs = append(cs, c)
	}
	return cs
}

// Summary is what a client assembles from a stream.
type Summary struct {
	Role, Content, Reasoning, Finish string
	Tools                            []Tool
	AfterFinish                      int // frames after the finish frame (should be 0)
}

// Tool is one assembled tool call.
type Tool struct{ ID, Name, Args string }

// Summarize folds frames as an OpenAI SDK would, checking the order rules on the way: the role
// only in the first frame, a tool call opened (id, type, name) before its argument fragments.
func Summarize(t testing.TB, cs []Chunk) Summary {
	t.Helper()
	var s Summary
	for i, c := range cs {
		ch := c.Choices[0]
		d := ch.Delta
		if s.Finish != "" {
			s.AfterFinish++
		}
		if d.Role != nil {
			if i != 0 {
				t.Errorf("role in frame %d", i)
			}
			s.Role = *d.Role
		}
		if d.Content != nil {
			s.Content += *d.Content
		}
		if d.Reasoning != nil {
			s.Reasoning += *d.Reasoning
		}
		for _, tc := range d.ToolCalls {
			for len(s.Tools) <= tc.Index {
				s.Tools = append(s.Tools, Tool{})
			}
			ts := &s.Tools[tc.Index]
			if tc.ID != nil {
				if ts.ID != "" || tc.Type == nil || *tc.Type != "function" || tc.Function.Name == nil {
					t.Errorf("tool call %d opened twice or without type/name", tc.Index)
				}
				ts.ID, ts.Name = *tc.ID, *tc.Function.Name
			} else if ts.ID == "" {
				t.Errorf("arguments for tool call %d before its opening", tc.Index)
			}
			ts.Args += tc.Function.Arguments
		}
		if ch.FinishReason != nil {
			s.Finish = *ch.FinishReason
		}
	}
	return s
}

// Split cuts SSE text into events at blank lines ("\n\n" or "\r\n\r\n").
func Split(text []byte) [][]byte {
	var evs [][]byte
	for len(text) > 0 {
		end := -1
		for i := 0; i+1 < len(text); i++ {
			if text[i] != '\n' {
				continue
			}
			if text[i+1] == '\n' {
				end = i + 2
				break
			}
			if text[i+1] == '\r' && i+2 < len(text) && text[i+2] == '\n' {
				end = i + 3
				break
			}
		}
		if end < 0 {
			end = len(text)
		}
		evs = append(evs, text[:end])
		text = text[end:]
	}
	return evs
}

// CheckFrames fails unless out is a sequence of "data: <valid JSON>\n\n" frames.
func CheckFrames(t testing.TB, out []byte) {
	t.Helper()
	for len(out) > 0 {
		end := bytes.Index(out, []byte("\n\n"))
		if end < 0 {
			t.Fatalf("unterminated frame %q", out)
		}
		frame := out[:end]
		out = out[end+2:]
		payload, ok := bytes.CutPrefix(frame, []byte("data: "))
		if !ok || bytes.ContainsAny(payload, "\r\n") || !json.Valid(payload) {
			t.Fatalf("invalid frame %q", frame)
		}
	}
}
