package gemini

import (
	"encoding/json"
	"strconv"

	"github.com/arouter/arouter/providers/internal/oai"
)

// Thinking budgets by effort when the client sets no output cap (with a cap, the effort's share
// of it is used). The top matches Gemini 2.5 Flash's maximum.
var effortBudget = map[string]int64{
	"minimal": 512, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 24576,
}

// minThinkingBudget is the smallest budget every thinking Gemini model accepts.
const minThinkingBudget = 128

// TranslateRequest appends the generateContent request for an OpenAI chat-completions body.
// System and developer messages become systemInstruction, assistant turns "model" contents,
// tool calls functionCall parts and tool messages functionResponse parts. Errors are
// *providers.RequestError; dst is returned unchanged with them.
func (a Adapter) TranslateRequest(dst, body []byte, upstreamModel string) ([]byte, error) {
	var r oai.Request
	if err := oai.Decode(body, &r); err != nil {
		return dst, err
	}
	think, err := r.ThinkSpec()
	if err != nil {
		return dst, err
	}
	choice, _ := r.ToolChoiceSpec() // validated by Decode

	b := append(dst, '{')
	if b, err = appendContents(b, r.Messages); err != nil {
		return dst, err
	}
	if b, err = appendSystem(b, r.Messages); err != nil {
		return dst, err
	}
	if len(r.Tools) > 0 {
		b = appendTools(b, r.Tools)
		b = appendToolConfig(b, choice)
	}
	b = appendGenerationConfig(b, &r, think)
	b = oai.AppendPassthrough(b, body, a.Passthrough)
	return append(b, '}'), nil
}

func appendContents(b []byte, msgs []oai.Message) ([]byte, error) {
	b = append(b, `"contents":[`...)
	names := map[string]string{} // tool call id → function name: functionResponse needs the name
	n := 0
	var err error
	for i := 0; i < len(msgs); i++ {
		m := &msgs[i]
		switch m.Role {
		case "system", "developer":
			continue
		case "tool":
			// Responses to parallel calls go back together in one turn.
			b = sep(b, n)
			b = append(b, `{"role":"user","parts":[`...)
			j := i
			for ; j < len(msgs) && msgs[j].Role == "tool"; j++ {
				if b, err = appendFunctionResponse(b, j, &msgs[j], names, j > i); err != nil {
					return b, err
				}
			}
			b = append(b, "]}"...)
			i = j - 1
		case "assistant":
			for k := range m.ToolCalls {
				names[m.ToolCalls[k].ID] = m.ToolCalls[k].Function.Name
			}
			start := len(b)
			b = sep(b, n)
			b = append(b, `{"role":"model","parts":[`...)
			var parts int
			if b, parts, err = appendModelParts(b, i, m); err != nil {
				return b, err
			}
			if parts == 0 {
				b = b[:start] // an empty turn says nothing, and Gemini refuses empty parts
				continue
			}
			b = append(b, "]}"...)
		default: // user
			b = sep(b, n)
			b = append(b, `{"role":"user","parts":[`...)
			if b, err = appendUserParts(b, i, m); err != nil {
				return b, err
			}
			b = append(b, "]}"...)
		}
		n++
	}
	if n == 0 {
		return b, &oai.RequestError{Field: "messages", Message: "at least one user or assistant message is required besides system messages"}
	}
	return append(b, ']'), nil
}

func appendUserParts(b []byte, i int, m *oai.Message) ([]byte, error) {
	if m.Content.IsString {
		return appendText(b, m.Content.Text), nil
	}
	n := 0
	for j := range m.Content.Parts {
		p := &m.Content.Parts[j]
		if p.Type == "text" && p.Text == "" {
			continue
		}
		b = sep(b, n)
		var err error
		if b, err = appendPart(b, i, j, p); err != nil {
			return b, err
		}
		n++
	}
	return b, nil
}

func appendPart(b []byte, i, j int, p *oai.Part) ([]byte, error) {
	switch p.Type {
	case "text":
		return appendText(b, p.Text), nil
	case "image_url":
		if p.ImageURL == nil {
			return b, &oai.RequestError{Field: oai.PartField(i, j, ".image_url"), Message: "is required on image_url parts"}
		}
		u := p.ImageURL.URL
		if mt, data, ok := oai.DataURL(u); ok {
			return appendInline(b, mt, data), nil
		}
		if oai.IsHTTPURL(u) {
			b = append(b, `{"fileData":{"mimeType":`...)
			b = oai.AppendString(b, oai.GuessMediaType(u, "image/jpeg"))
			b = append(b, `,"fileUri":`...)
			b = oai.AppendString(b, u)
			return append(b, "}}"...), nil
		}
		return b, &oai.RequestError{Field: oai.PartField(i, j, ".image_url.url"), Message: "must be an http(s) URL or a base64 data: URL"}
	case "file":
		if p.File != nil {
			if mt, data, ok := oai.DataURL(p.File.FileData); ok {
				return appendInline(b, mt, data), nil
			}
		}
		return b, &oai.RequestError{Field: oai.PartField(i, j, ".file.file_data"),
			Message: "must be a base64 data: URL (uploaded file ids cannot be sent to Gemini)"}
	case "input_audio":
		if p.InputAudio == nil || p.InputAudio.Data == "" {
			return b, &oai.RequestError{Field: oai.PartField(i, j, ".input_audio.data"), Message: "is required on input_audio parts"}
		}
		f := p.InputAudio.Format
		if f == "mp3" {
			f = "mpeg"
		}
		return appendInline(b, "audio/"+f, p.InputAudio.Data), nil
	}
	return b, &oai.RequestError{Field: oai.PartField(i, j, ".type"), Message: "content part type " + strconv.Quote(p.Type) +
		" cannot be sent to Gemini; use text, image_url, file or input_audio"}
}

func appendInline(b []byte, mediaType, data string) []byte {
	b = append(b, `{"inlineData":{"mimeType":`...)
	b = oai.AppendString(b, mediaType)
	b = append(b, `,"data":`...)
	b = oai.AppendString(b, data)
	return append(b, "}}"...)
}

func appendText(b []byte, text string) []byte {
	b = append(b, `{"text":`...)
	b = oai.AppendString(b, text)
	return append(b, '}')
}

// appendModelParts writes an assistant message's text and tool calls and returns how many
// parts it wrote.
func appendModelParts(b []byte, i int, m *oai.Message) ([]byte, int, error) {
	n := 0
	if m.Content.IsString && m.Content.Text != "" {
		b = appendText(b, m.Content.Text)
		n++
	}
	for j := range m.Content.Parts {
		p := &m.Content.Parts[j]
		if p.Type != "text" && p.Type != "refusal" {
			return b, 0, &oai.RequestError{Field: oai.PartField(i, j, ".type"), Message: "assistant messages take text parts only"}
		}
		if p.Text == "" {
			continue
		}
		b = sep(b, n)
		b = appendText(b, p.Text)
		n++
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		b = sep(b, n)
		b = append(b, `{"functionCall":{"name":`...)
		b = oai.AppendString(b, tc.Function.Name)
		b = append(b, `,"args":`...)
		if oai.IsNull([]byte(tc.Function.Arguments)) {
			b = append(b, "{}"...)
		} else {
			b = oai.AppendCompact(b, []byte(tc.Function.Arguments))
		}
		b = append(b, "}}"...)
		n++
	}
	return b, n, nil
}

// appendFunctionResponse writes a tool message. Gemini matches responses to calls by function
// name, so the name comes from the assistant call with the same id. A JSON-object result is
// passed as the response object itself; any other result is wrapped as {"result": text}, the
// shape Google's SDKs use.
func appendFunctionResponse(b []byte, i int, m *oai.Message, names map[string]string, comma bool) ([]byte, error) {
	name, ok := names[m.ToolCallID]
	if !ok {
		name = m.Name
	}
	if name == "" {
		return b, &oai.RequestError{Field: oai.MsgField(i, "tool_call_id"),
			Message: "matches no tool call of an earlier assistant message; Gemini needs the called function's name"}
	}
	text, ok := m.Content.TextOnly()
	if !ok {
		return b, &oai.RequestError{Field: oai.MsgField(i, "content"), Message: "tool results sent to Gemini take text only"}
	}
	if comma {
		b = append(b, ',')
	}
	b = append(b, `{"functionResponse":{"name":`...)
	b = oai.AppendString(b, name)
	b = append(b, `,"response":`...)
	if raw := []byte(text); json.Valid(raw) && oai.IsObject(raw) {
		b = oai.AppendCompact(b, raw)
	} else {
		b = append(b, `{"result":`...)
		b = oai.AppendString(b, text)
		b = append(b, '}')
	}
	return append(b, "}}"...), nil
}

func appendSystem(b []byte, msgs []oai.Message) ([]byte, error) {
	n := 0
	for i := range msgs {
		m := &msgs[i]
		if m.Role != "system" && m.Role != "developer" {
			continue
		}
		text, ok := m.Content.TextOnly()
		if !ok {
			return b, &oai.RequestError{Field: oai.MsgField(i, "content"), Message: "system messages take text parts only"}
		}
		if text == "" {
			continue
		}
		if n == 0 {
			b = append(b, `,"systemInstruction":{"parts":[`...)
		}
		b = sep(b, n)
		b = appendText(b, text)
		n++
	}
	if n > 0 {
		b = append(b, "]}"...)
	}
	return b, nil
}

// appendTools declares the functions with parametersJsonSchema, which takes the JSON Schema
// OpenAI clients write (additionalProperties, $defs, …) where "parameters" takes only
// Google's OpenAPI subset.
func appendTools(b []byte, tools []oai.Tool) []byte {
	b = append(b, `,"tools":[{"functionDeclarations":[`...)
	for i := range tools {
		f := tools[i].Function
		b = sep(b, i)
		b = append(b, `{"name":`...)
		b = oai.AppendString(b, f.Name)
		if f.Description != "" {
			b = append(b, `,"description":`...)
			b = oai.AppendString(b, f.Description)
		}
		if !oai.IsNull(f.Parameters) {
			b = append(b, `,"parametersJsonSchema":`...)
			b = oai.AppendCompact(b, f.Parameters)
		}
		b = append(b, '}')
	}
	return append(b, "]}]"...)
}

func appendToolConfig(b []byte, c oai.ToolChoice) []byte {
	var mode string
	switch c.Mode {
	case "":
		return b
	case "none":
		mode = "NONE"
	case "required", "function":
		mode = "ANY"
	default:
		mode = "AUTO"
	}
	b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"`...)
	b = append(b, mode...)
	b = append(b, '"')
	if c.Mode == "function" {
		b = append(b, `,"allowedFunctionNames":[`...)
		b = oai.AppendString(b, c.Name)
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

func appendGenerationConfig(b []byte, r *oai.Request, t oai.Think) []byte {
	start := len(b)
	b = append(b, `,"generationConfig":{`...)
	body := len(b)
	field := func(name string) {
		if len(b) > body {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	maxOut := r.MaxOutput()
	if maxOut > 0 {
		field("maxOutputTokens")
		b = oai.AppendInt(b, maxOut)
	}
	if r.Temperature != nil {
		field("temperature")
		b = oai.AppendFloat(b, *r.Temperature)
	}
	if r.TopP != nil {
		field("topP")
		b = oai.AppendFloat(b, *r.TopP)
	}
	if r.TopK != nil {
		field("topK")
		b = oai.AppendInt(b, *r.TopK)
	}
	if len(r.Stop.Seqs) > 0 {
		field("stopSequences")
		b = append(b, '[')
		for i, s := range r.Stop.Seqs {
			b = sep(b, i)
			b = oai.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if r.Seed != nil {
		field("seed")
		b = oai.AppendInt(b, *r.Seed)
	}
	if r.PresencePenalty != nil {
		field("presencePenalty")
		b = oai.AppendFloat(b, *r.PresencePenalty)
	}
	if r.FrequencyPenalty != nil {
		field("frequencyPenalty")
		b = oai.AppendFloat(b, *r.FrequencyPenalty)
	}
	if rf := r.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") {
		field("responseMimeType")
		b = append(b, `"application/json"`...)
		if rf.Type == "json_schema" && rf.JSONSchema != nil && oai.IsObject(rf.JSONSchema.Schema) {
			field("responseJsonSchema")
			b = oai.AppendCompact(b, rf.JSONSchema.Schema)
		}
	}
	switch {
	case t.Off:
		field("thinkingConfig")
		b = append(b, `{"thinkingBudget":0}`...)
	case t.On:
		budget := t.Budget
		if budget == 0 {
			if maxOut > 0 {
				budget = max(int64(oai.EffortRatio(t.Effort)*float64(maxOut)), minThinkingBudget)
			} else {
				budget = effortBudget[t.Effort]
			}
		}
		field("thinkingConfig")
		b = append(b, `{"thinkingBudget":`...)
		b = oai.AppendInt(b, budget)
		if !t.Exclude {
			b = append(b, `,"includeThoughts":true`...)
		}
		b = append(b, '}')
	}
	if len(b) == body {
		return b[:start]
	}
	return append(b, '}')
}

func sep(b []byte, n int) []byte {
	if n > 0 {
		return append(b, ',')
	}
	return b
}
