package mockllm

// Google Gemini API (models.generateContent and models.streamGenerateContent), written from
// Google's public documentation: POST /v1beta/models/{model}:generateContent, and
// :streamGenerateContent with ?alt=sse (CRLF-framed data-only events) or without (one JSON
// array written piece by piece); the key in x-goog-api-key or ?key=; contents with user/model
// roles and text, inlineData, fileData, functionCall and functionResponse parts;
// generationConfig (maxOutputTokens, stopSequences, thinkingConfig); usageMetadata with
// cachedContentTokenCount and thoughtsTokenCount; Google's error envelope with its canonical
// status names. Timing, faults, text and stats are shared with the other wire modes.

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

type gemRequest struct {
	Contents          *[]gemContent   `json:"contents"`
	SystemInstruction *gemContent     `json:"systemInstruction"`
	SystemSnake       *gemContent     `json:"system_instruction"`
	Tools             []gemTool       `json:"tools"`
	ToolConfig        json.RawMessage `json:"toolConfig"`
	ToolConfigSnake   json.RawMessage `json:"tool_config"`
	GenerationConfig  *gemGenConfig   `json:"generationConfig"`
	GenConfigSnake    *gemGenConfig   `json:"generation_config"`
	SafetySettings    json.RawMessage `json:"safetySettings"`
	SafetySnake       json.RawMessage `json:"safety_settings"`
	CachedContent     string          `json:"cachedContent"`
	Labels            json.RawMessage `json:"labels"`
	Mock              json.RawMessage `json:"mock"`
}

type gemContent struct {
	Role  string    `json:"role"`
	Parts []gemPart `json:"parts"`
}

type gemPart struct {
	Text                *string         `json:"text"`
	Thought             bool            `json:"thought"`
	ThoughtSignature    string          `json:"thoughtSignature"`
	InlineData          *gemBlob        `json:"inlineData"`
	FileData            *gemFile        `json:"fileData"`
	FunctionCall        json.RawMessage `json:"functionCall"`
	FunctionResponse    json.RawMessage `json:"functionResponse"`
	ExecutableCode      json.RawMessage `json:"executableCode"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult"`
	VideoMetadata       json.RawMessage `json:"videoMetadata"`
}

type gemBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gemFile struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type gemTool struct {
	FunctionDeclarations []struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description"`
		Parameters           json.RawMessage `json:"parameters"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
		Response             json.RawMessage `json:"response"`
		ResponseJSONSchema   json.RawMessage `json:"responseJsonSchema"`
		Behavior             string          `json:"behavior"`
	} `json:"functionDeclarations"`
	GoogleSearch          json.RawMessage `json:"googleSearch"`
	GoogleSearchRetrieval json.RawMessage `json:"googleSearchRetrieval"`
	CodeExecution         json.RawMessage `json:"codeExecution"`
	URLContext            json.RawMessage `json:"urlContext"`
}

type gemGenConfig struct {
	StopSequences              []string        `json:"stopSequences"`
	ResponseMimeType           string          `json:"responseMimeType"`
	ResponseSchema             json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema         json.RawMessage `json:"responseJsonSchema"`
	ResponseModalities         json.RawMessage `json:"responseModalities"`
	CandidateCount             *int            `json:"candidateCount"`
	MaxOutputTokens            *int            `json:"maxOutputTokens"`
	Temperature                *float64        `json:"temperature"`
	TopP                       *float64        `json:"topP"`
	TopK                       *float64        `json:"topK"`
	Seed                       *int64          `json:"seed"`
	PresencePenalty            *float64        `json:"presencePenalty"`
	FrequencyPenalty           *float64        `json:"frequencyPenalty"`
	ResponseLogprobs           *bool           `json:"responseLogprobs"`
	Logprobs                   *int            `json:"logprobs"`
	EnableEnhancedCivicAnswers *bool           `json:"enableEnhancedCivicAnswers"`
	SpeechConfig               json.RawMessage `json:"speechConfig"`
	MediaResolution            string          `json:"mediaResolution"`
	ThinkingConfig             *struct {
		ThinkingBudget  *int   `json:"thinkingBudget"`
		IncludeThoughts bool   `json:"includeThoughts"`
		ThinkingLevel   string `json:"thinkingLevel"`
	} `json:"thinkingConfig"`
}

// gemError is a Google API error waiting to be written; details are raw JSON objects.
type gemError struct {
	status  int
	msg     string
	details []string
}

func gemBad(msg string) *gemError { return &gemError{status: fasthttp.StatusBadRequest, msg: msg} }

func gemDecodeError(err error) *gemError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return gemBad("Invalid value at '" + te.Field + "' (" + te.Value + ")")
	case errors.As(err, &se):
		return gemBad("Invalid JSON payload received. Unexpected token at byte " + strconv.FormatInt(se.Offset, 10) + ".")
	}
	if f, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		return gemBad(`Invalid JSON payload received. Unknown name "` + strings.TrimSuffix(f, `"`) + `": Cannot find field.`)
	}
	return gemBad("Invalid JSON payload received. " + err.Error())
}

// normalize folds the snake_case spellings Google's JSON parser also accepts into the
// camelCase fields.
func (r *gemRequest) normalize() {
	if r.SystemInstruction == nil {
		r.SystemInstruction = r.SystemSnake
	}
	if r.GenerationConfig == nil {
		r.GenerationConfig = r.GenConfigSnake
	}
	if r.GenerationConfig == nil {
		r.GenerationConfig = &gemGenConfig{}
	}
	if r.ToolConfig == nil {
		r.ToolConfig = r.ToolConfigSnake
	}
}

// hasFunctionCallingConfig reports whether toolConfig sets functionCallingConfig, which Gemini
// refuses without function declarations to apply it to.
func (r *gemRequest) hasFunctionCallingConfig() bool {
	var tc struct {
		FunctionCallingConfig json.RawMessage `json:"functionCallingConfig"`
		Snake                 json.RawMessage `json:"function_calling_config"`
	}
	if json.Unmarshal(r.ToolConfig, &tc) != nil {
		return false
	}
	set := func(v json.RawMessage) bool { return len(v) > 0 && string(v) != "null" }
	return set(tc.FunctionCallingConfig) || set(tc.Snake)
}

// forcedTool reads toolConfig.functionCallingConfig: mode ANY forces a call, of the first of
// allowedFunctionNames when it lists any ("" for any declared function).
func (r *gemRequest) forcedTool() (forced bool, name string) {
	var tc struct {
		FunctionCallingConfig struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	}
	if len(r.toolSpecs()) == 0 || json.Unmarshal(r.ToolConfig, &tc) != nil || tc.FunctionCallingConfig.Mode != "ANY" {
		return false, ""
	}
	if names := tc.FunctionCallingConfig.AllowedFunctionNames; len(names) > 0 {
		return true, names[0]
	}
	return true, ""
}

// toolSpecs lists the declared functions, with their parameters in either schema field.
func (r *gemRequest) toolSpecs() []toolSpec {
	var specs []toolSpec
	for _, t := range r.Tools {
		for _, f := range t.FunctionDeclarations {
			params := f.Parameters
			if len(params) == 0 {
				params = f.ParametersJSONSchema
			}
			specs = append(specs, toolSpec{name: f.Name, params: params})
		}
	}
	return specs
}

func (r *gemRequest) validate() *gemError {
	if r.Contents == nil || len(*r.Contents) == 0 {
		return gemBad("* GenerateContentRequest.contents: contents is not specified\n")
	}
	for i, c := range *r.Contents {
		field := "contents[" + strconv.Itoa(i) + "]"
		switch c.Role {
		case "", "user", "model":
		default:
			return gemBad("Please use a valid role: user, model.")
		}
		if e := checkParts(c.Parts, "GenerateContentRequest."+field); e != nil {
			return e
		}
	}
	if si := r.SystemInstruction; si != nil {
		if e := checkParts(si.Parts, "GenerateContentRequest.system_instruction"); e != nil {
			return e
		}
	}
	for i, t := range r.Tools {
		for j, f := range t.FunctionDeclarations {
			field := "GenerateContentRequest.tools[" + strconv.Itoa(i) + "].function_declarations[" + strconv.Itoa(j) + "]"
			if f.Name == "" {
				return gemBad("* " + field + ".name: [FIELD_INVALID] Invalid function name. Must start with a letter or an underscore.\n")
			}
			if len(f.Parameters) > 0 && len(f.ParametersJSONSchema) > 0 {
				return gemBad("* " + field + ".parameters: parameters and parameters_json_schema are mutually exclusive\n")
			}
		}
	}
	if r.hasFunctionCallingConfig() && len(r.toolSpecs()) == 0 {
		return gemBad("Function calling config is set without function_declarations.") // Gemini's wording
	}
	g := r.GenerationConfig
	if g.MaxOutputTokens != nil && *g.MaxOutputTokens < 1 {
		return gemBad("* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n")
	}
	if len(g.StopSequences) > 5 {
		return gemBad("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed.\n")
	}
	if g.Temperature != nil && (*g.Temperature < 0 || *g.Temperature > 2) {
		return gemBad("* GenerateContentRequest.generation_config.temperature: temperature must be in [0, 2].\n")
	}
	if tc := g.ThinkingConfig; tc != nil && tc.ThinkingBudget != nil && (*tc.ThinkingBudget < -1 || *tc.ThinkingBudget > 32768) {
		return gemBad("The thinking budget " + strconv.Itoa(*tc.ThinkingBudget) + " is invalid. Please choose a value between -1 and 32768.")
	}
	return nil
}

func checkParts(parts []gemPart, field string) *gemError {
	if len(parts) == 0 {
		return gemBad("* " + field + ".parts: contents.parts must not be empty.\n")
	}
	for j, p := range parts {
		n := 0
		for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, len(p.FunctionCall) > 0,
			len(p.FunctionResponse) > 0, len(p.ExecutableCode) > 0, len(p.CodeExecutionResult) > 0} {
			if set {
				n++
			}
		}
		pf := field + ".parts[" + strconv.Itoa(j) + "]"
		switch {
		case n == 0:
			return gemBad("* " + pf + ".data: required oneof field 'data' must have one initialized field\n")
		case n > 1:
			return gemBad("* " + pf + ".data: oneof field 'data' is already set. Cannot set 'data' twice\n")
		case p.InlineData != nil && (p.InlineData.MimeType == "" || p.InlineData.Data == ""):
			return gemBad("* " + pf + ".inline_data: mime_type and data are required\n")
		case p.FileData != nil && p.FileData.FileURI == "":
			return gemBad("* " + pf + ".file_data.file_uri: file_uri is required\n")
		case len(p.FunctionCall) > 0 && !hasName(p.FunctionCall):
			return gemBad("* " + pf + ".function_call.name: [FIELD_INVALID] Invalid function name.\n")
		case len(p.FunctionResponse) > 0 && !hasName(p.FunctionResponse):
			return gemBad("* " + pf + ".function_response.name: [FIELD_INVALID] Invalid function name.\n")
		}
	}
	return nil
}

func hasName(raw json.RawMessage) bool {
	var v struct {
		Name string `json:"name"`
	}
	return json.Unmarshal(raw, &v) == nil && v.Name != ""
}

// plan estimates the prompt like the OpenAI mode: 3 priming tokens, the function
// declarations, and per content (the system instruction counts as one) 4 plus one per four
// bytes of text and function call or response JSON; inline and file data are not counted.
func (r *gemRequest) plan(model string) (prompt int, seed uint64) {
	size := func(parts []gemPart) int {
		n := 0
		for _, p := range parts {
			if p.Text != nil {
				n += len(*p.Text)
			}
			n += len(p.FunctionCall) + len(p.FunctionResponse)
		}
		return n
	}
	prompt = 3
	for _, t := range r.Tools {
		for _, f := range t.FunctionDeclarations {
			schema := f.Parameters // validate allows one of the two schema fields
			if len(schema) == 0 {
				schema = f.ParametersJSONSchema
			}
			prompt += toolDefinitionTokens(f.Name, f.Description, schema)
		}
	}
	if r.SystemInstruction != nil {
		prompt += 4 + ceilDiv4(size(r.SystemInstruction.Parts))
	}
	for _, c := range *r.Contents {
		prompt += 4 + ceilDiv4(size(c.Parts))
	}
	h := newFNV()
	h.add(model)
	h.add("\x00")
	last := (*r.Contents)[len(*r.Contents)-1]
	for _, p := range last.Parts {
		if p.Text != nil {
			h.add(*p.Text)
		}
	}
	return prompt, uint64(h)
}

// geminiRoute serves POST /{version}/models/{model}:{method}.
func (s *Server) geminiRoute(ctx *fasthttp.RequestCtx, path string) {
	rest := path[strings.Index(path, "/models/")+len("/models/"):]
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		(&gemError{status: 404, msg: "Requested entity was not found."}).write(ctx)
		return
	}
	model, method := rest[:i], rest[i+1:]
	switch method {
	case "generateContent", "streamGenerateContent":
		if !ctx.IsPost() {
			(&gemError{status: 405, msg: "Method " + string(ctx.Method()) + " is not allowed; use POST."}).write(ctx)
			return
		}
		s.geminiGenerate(ctx, model, method == "streamGenerateContent")
	default:
		(&gemError{status: 404, msg: "models/" + model + " is not found for API version " + strings.Trim(path[:strings.Index(path, "/models/")], "/") +
			", or is not supported for " + method + ". Call ListModels to see the list of available models and their supported methods."}).write(ctx)
	}
}

// geminiKeyInvalid is the ErrorInfo detail Gemini attaches to a rejected key.
const geminiKeyInvalid = `{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", ` +
	`"metadata": {"service": "generativelanguage.googleapis.com"}}`

func (s *Server) geminiGenerate(ctx *fasthttp.RequestCtx, model string, stream bool) {
	s.requests.Add(1)
	b := *s.behavior.Load()
	var req gemRequest
	decErr := strictUnmarshal(ctx.PostBody(), &req)
	var mockErr error
	if decErr == nil && len(req.Mock) > 0 && string(req.Mock) != "null" {
		mockErr = decodeBehavior(req.Mock, &b)
	}
	if b.APIKey != "" {
		key := ctx.Request.Header.Peek("x-goog-api-key")
		if len(key) == 0 {
			key = ctx.QueryArgs().Peek("key")
		}
		if len(key) == 0 {
			(&gemError{status: 403, msg: "Method doesn't allow unregistered callers (callers without established identity). " +
				"Please use API Key or other form of API consumer identity to call this API."}).write(ctx)
			return
		}
		if string(key) != b.APIKey {
			(&gemError{status: 400, msg: "API key not valid. Please pass a valid API key.", details: []string{geminiKeyInvalid}}).write(ctx)
			return
		}
	}
	if decErr != nil {
		gemDecodeError(decErr).write(ctx)
		return
	}
	if mockErr != nil {
		gemBad("Invalid JSON payload received. mock: " + mockErr.Error()).write(ctx)
		return
	}
	req.normalize()
	if e := req.validate(); e != nil {
		e.write(ctx)
		return
	}
	sse := stream && string(ctx.QueryArgs().Peek("alt")) == "sse"
	unavailable := func() { (&gemError{status: 503, msg: "The service is currently unavailable."}).write(ctx) }
	if !s.admit(ctx, &b, stream, unavailable, func() bool { return s.geminiFault(ctx, &b, stream) }) {
		return
	}

	prompt, seed := req.plan(model)
	g := req.GenerationConfig
	capTokens := 0
	if g.MaxOutputTokens != nil {
		capTokens = *g.MaxOutputTokens
	}
	thoughts := b.ReasoningTokens
	showThoughts := false
	if tc := g.ThinkingConfig; tc != nil {
		if tc.ThinkingBudget != nil && *tc.ThinkingBudget == 0 {
			thoughts = 0
		}
		showThoughts = tc.IncludeThoughts
	}
	text, _, truncated := planCompletion(&b, seed, prompt, capTokens)
	finish := "STOP"
	if _, ok := text.cutAtStop(g.StopSequences); !ok && truncated {
		finish = "MAX_TOKENS"
	}
	if forced, name := req.forcedTool(); forced {
		call := planToolCall(req.toolSpecs(), name, seed)
		// Gemini sends a function call whole, in one response: one "token" that is all of it.
		text, finish = completionText{segs: []string{call.args}, n: 1, total: 1}, "STOP"
		r := &gemStream{model: model, id: s.newIDWith("", 22), prompt: prompt, cached: min(b.CachedTokens, prompt),
			thoughts: thoughts, total: call.tokens(), reason: finish, sse: sse, fnName: call.name}
		s.geminiAnswer(ctx, r, &text, &b, stream, sse)
		return
	}
	r := &gemStream{
		model:    model,
		id:       s.newIDWith("", 22),
		prompt:   prompt,
		cached:   min(b.CachedTokens, prompt),
		thoughts: thoughts,
		total:    text.n,
		reason:   finish,
		sse:      sse,
	}
	if showThoughts && thoughts > 0 {
		t := newGeneratedText(seed^0x74686f75676874, min(thoughts, 16), min(thoughts, 16))
		r.thoughtText = "**Thinking it through**\n\n" + t.rest()
	}
	s.geminiAnswer(ctx, r, &text, &b, stream, sse)
}

// geminiAnswer writes r with text: one GenerateContentResponse, or a stream of them.
func (s *Server) geminiAnswer(ctx *fasthttp.RequestCtx, r *gemStream, text *completionText, b *Behavior, stream, sse bool) {
	if !stream {
		body := r.appendResponse(nil, text.rest(), r.total, true)
		if b.Fault == FaultMalformed {
			body = body[:len(body)/2]
		}
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBody(body)
		return
	}
	ct := "text/event-stream"
	if !sse {
		ct = "application/json; charset=UTF-8"
	}
	s.streamTo(ctx, ct, r, text, b)
}

// geminiFault answers status and rate_limit faults (and stream_error without a stream) in
// Google's error shape, reporting whether it did. Gemini says when to retry in a RetryInfo
// detail, not a Retry-After header.
func (s *Server) geminiFault(ctx *fasthttp.RequestCtx, b *Behavior, stream bool) bool {
	switch {
	case b.Fault == FaultStatus || (b.Fault == FaultStreamError && !stream):
		st := b.faultStatus()
		_, msg := gemStatus(st)
		(&gemError{status: st, msg: msg + " (mockllm injected fault: status " + strconv.Itoa(st) + ")"}).write(ctx)
		return true
	case b.Fault == FaultRateLimit:
		(&gemError{status: 429,
			msg: "You exceeded your current quota, please check your plan and billing details. For more information on this error, " +
				"head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
			details: []string{
				`{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": ` +
					`"generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}`,
				`{"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", ` +
					`"url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}`,
				`{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "` + strconv.Itoa(b.retryAfter()) + `s"}`,
			}}).write(ctx)
		return true
	}
	return false
}
