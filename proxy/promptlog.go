package proxy

import (
	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
)

// Prompt logging: when a request's key, or its organization, has opted in
// (apikey.Key.LogPrompts), the request's body and the answer the client received ride on its
// usage record (accounting.Record.Bodies) to the store, which writes them with the record. Off
// by default, and then each hook below is one nil or bool test: nothing is allocated or copied.
//
// What is kept:
//   - the request body exactly as the client sent it, before the gateway rewrote it for a
//     provider (model names, routing fields, a provider's own format): the same for every
//     attempt of a failover, and what the client is accountable for;
//   - the answer exactly as the client received it: a whole body with its cost added, the
//     gateway's error answer, or, for a stream, the server-sent events as relayed (keep-alive
//     comments and a final error event included), up to where the client stopped reading.
//
// Each direction keeps its first accounting.MaxBodyBytes bytes and counts all of them, which
// marks truncation. Bodies never go to a log line or a metric.

// logRequest starts prompt logging for the request if key logs prompts, with a copy of body:
// the request's buffer belongs to fasthttp and is reused once the handler returns.
func (x *exchange) logRequest(key *apikey.Key, body []byte) {
	if !key.LogPrompts {
		return
	}
	kept := body[:min(len(body), accounting.MaxBodyBytes)]
	x.rec.Bodies = &accounting.Bodies{
		Request:     append(make([]byte, 0, len(kept)), kept...),
		RequestSize: int64(len(body)),
	}
}

// logResponse keeps a whole answer (not a stream) as it goes to the client. It replaces what an
// earlier call kept, so that only the final answer is stored.
func (x *exchange) logResponse(body []byte) {
	b := x.rec.Bodies
	if b == nil {
		return
	}
	kept := body[:min(len(body), accounting.MaxBodyBytes)]
	b.Response = append(b.Response[:0], kept...)
	b.ResponseSize = int64(len(body))
}

// logStream keeps bytes of a stream as they are handed to the client, until the cap; the size
// counts every byte relayed.
func (x *exchange) logStream(p []byte) {
	b := x.rec.Bodies
	if b == nil {
		return
	}
	b.ResponseSize += int64(len(p))
	if room := accounting.MaxBodyBytes - len(b.Response); room > 0 {
		b.Response = append(b.Response, p[:min(room, len(p))]...)
	}
}
