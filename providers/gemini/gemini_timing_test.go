package gemini

import (
	"testing"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

const benchResponse = `{"candidates":[{"content":{"parts":[{"text":"The cheapest combination is AZ317 out on Friday at 09:40 (98 EUR) and AZ326 back on Sunday at 19:10 (87 EUR), 185 EUR in total. ` +
	`The Air France pair would cost 241 EUR. Do you want me to book the Alitalia flights?"},` +
	`{"functionCall":{"name":"book_flight","args":{"flight":"AZ317","passengers":1}}}],"role":"model"},"finishReason":"STOP","index":0}],` +
	`"usageMetadata":{"promptTokenCount":2442,"candidatesTokenCount":96,"totalTokenCount":2700,"cachedContentTokenCount":1830,` +
	`"promptTokensDetails":[{"modality":"TEXT","tokenCount":2442}],"thoughtsTokenCount":162},"modelVersion":"gemini-2.5-flash","responseId":"AdVRaMmDCYekqtsPrb_-iAw"}`

func BenchmarkTranslateRequest(b *testing.B) {
	body := []byte(oaitest.BenchRequest)
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, err = (Adapter{}).TranslateRequest(dst[:0], body, "gemini-2.5-flash"); err != nil {
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
		if dst, err = (Adapter{}).TranslateResponse(dst[:0], body, "google/gemini-2.5-flash", &u, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvent is the per-event cost: one GenerateContentResponse with a few words and
// the running usage in, one chunk frame out.
func BenchmarkStreamEvent(b *testing.B) {
	s := NewStream("google/gemini-2.5-flash", "gen-1750000000-abcdefghijklmnopqrst", 1750000000)
	data := []byte(`{"candidates":[{"content":{"parts":[{"text":" cheapest combination is"}],"role":"model"},"index":0}],` +
		`"usageMetadata":{"promptTokenCount":2442,"candidatesTokenCount":12,"totalTokenCount":2454,"promptTokensDetails":[{"modality":"TEXT","tokenCount":2442}]},` +
		`"modelVersion":"gemini-2.5-flash","responseId":"AdVRaMmDCYekqtsPrb_-iAw"}`)
	dst, _ := s.Event(nil, nil, data)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = s.Event(dst[:0], nil, data); err != nil || len(dst) == 0 {
			b.Fatal(err)
		}
	}
}
