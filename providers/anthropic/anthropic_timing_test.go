package anthropic

import (
	"testing"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

const benchResponse = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-6",` +
	`"content":[{"type":"text","text":"The cheapest combination is AZ317 out on Friday at 09:40 (98 EUR) and AZ326 back on Sunday at 19:10 (87 EUR), 185 EUR in total. ` +
	`The Air France pair would cost 241 EUR. Do you want me to book the Alitalia flights?"},` +
	`{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"book_flight","input":{"flight":"AZ317","passengers":1}}],` +
	`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":612,"cache_creation_input_tokens":0,"cache_read_input_tokens":1830,"output_tokens":96,"service_tier":"standard"}}`

func BenchmarkTranslateRequest(b *testing.B) {
	body := []byte(oaitest.BenchRequest)
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, err = (Adapter{}).TranslateRequest(dst[:0], body, "claude-sonnet-4-6"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranslateResponse(b *testing.B) {
	body := []byte(benchResponse)
	var dst []byte
	var u catalog.Usage
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, err = (Adapter{}).TranslateResponse(dst[:0], body, "anthropic/claude-sonnet-4-6", &u, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvent is the per-token cost: one text_delta event in, one chunk frame out.
func BenchmarkStreamEvent(b *testing.B) {
	s := NewStream("anthropic/claude-sonnet-4-6", "gen-1750000000-abcdefghijklmnopqrst", 1750000000)
	name := []byte("content_block_delta")
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" cheapest"}}`)
	dst, _ := s.Event(nil, []byte("content_block_start"), []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = s.Event(dst[:0], name, data); err != nil || len(dst) == 0 {
			b.Fatal(err)
		}
	}
}
