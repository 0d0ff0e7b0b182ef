package accounting

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/arouter/arouter/money"
)

// The spool stores each record as one frame:
//
//	u32 payload length | u32 CRC-32C of the payload | payload | zero padding to 8 bytes
//	payload: u32 meta length | meta | bodies (present only when the record has Bodies)
//	meta:    every field of Record but Bodies, in the order of appendMeta
//	bodies:  varint RequestSize | varint ResponseSize | uvarint len(Request) | uvarint len(Response) | Request | Response
//
// Fields are appended to meta in a fixed order and new fields go at its END: a frame written by
// an older binary then decodes with the newer fields zero, and a newer frame read by an older
// binary has its unknown tail ignored. TestCodecCoversEveryField fails when Record gains a field
// that appendMeta does not write.

const (
	frameHeader = 8 // payload length + checksum
	frameAlign  = 8
	// encodeBufSize is what Enqueue reserves on its stack for a frame's header and meta; a record
	// with longer strings still encodes, at the price of one allocation.
	encodeBufSize = 1024
)

// castagnoli is CRC-32C, which amd64 and arm64 compute in hardware. It is read-only.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// alignFrame rounds n up to the frame alignment, so that every frame header is 8-byte aligned.
func alignFrame(n int) int { return (n + frameAlign - 1) &^ (frameAlign - 1) }

// appendFrameHead appends a frame's header, meta and bodies header for r to b; the frame is
// complete once the bodies' bytes (the returned slices, nil without bodies) follow it and
// sealFrame has set its checksum. It does not allocate while b has room.
func appendFrameHead(b []byte, r *Record, withBodies bool) (head, req, resp []byte) {
	start := len(b)
	b = append(b, make([]byte, frameHeader+4)...)
	b = appendMeta(b, r)
	binary.LittleEndian.PutUint32(b[start+frameHeader:], uint32(len(b)-start-frameHeader-4))
	if bd := r.Bodies; withBodies && bd != nil {
		b = binary.AppendVarint(b, bd.RequestSize)
		b = binary.AppendVarint(b, bd.ResponseSize)
		b = binary.AppendUvarint(b, uint64(len(bd.Request)))
		b = binary.AppendUvarint(b, uint64(len(bd.Response)))
		req, resp = bd.Request, bd.Response
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-frameHeader+len(req)+len(resp)))
	return b, req, resp
}

// sealFrame sets the checksum of the complete frame f. The spool calls it on the frame's final
// place: crc32 hands its input to an assembly routine through a function value, which would
// make a buffer on Enqueue's stack escape to the heap.
func sealFrame(f []byte) {
	n := binary.LittleEndian.Uint32(f)
	binary.LittleEndian.PutUint32(f[4:], crc32.Checksum(f[frameHeader:frameHeader+n], castagnoli))
}

// appendMeta appends every field of r but Bodies. Append new fields at the end (see above).
func appendMeta(b []byte, r *Record) []byte {
	b = append(b, r.GenerationID[:]...)
	b = appendTime(b, r.Time)
	b = binary.AppendVarint(b, r.KeyID)
	b = binary.AppendVarint(b, r.OrgID)
	b = binary.AppendVarint(b, r.BudgetID)
	b = appendString(b, r.Model)
	b = appendString(b, r.Provider)
	b = appendString(b, r.UpstreamModel)
	b = binary.AppendVarint(b, r.PromptTokens)
	b = binary.AppendVarint(b, r.CompletionTokens)
	b = binary.AppendVarint(b, r.ReasoningTokens)
	b = binary.AppendVarint(b, r.CachedTokens)
	b = binary.AppendVarint(b, r.CacheWriteTokens)
	b = binary.AppendVarint(b, int64(r.Cost))
	b = binary.AppendVarint(b, int64(r.CacheDiscount))
	b = appendBool(b, r.BYOK)
	b = binary.AppendVarint(b, int64(r.BYOKCost))
	b = binary.AppendVarint(b, int64(r.Latency))
	b = binary.AppendVarint(b, int64(r.TTFB))
	b = binary.AppendVarint(b, int64(r.Status))
	b = appendBool(b, r.Streamed)
	b = appendBool(b, r.Cancelled)
	b = appendString(b, r.ErrorCode)
	b = appendBytes(b, r.UpstreamID.b[:r.UpstreamID.n])
	b = append(b, byte(r.FinishReason))
	b = appendBytes(b, r.NativeFinishReason.b[:r.NativeFinishReason.n])
	return b
}

// decodeMeta is appendMeta's inverse. Fields missing at the end of meta (a frame written before
// they existed) are left zero. strs interns the repeated strings (model and provider ids), so
// that decoding a batch allocates each once.
func decodeMeta(meta []byte, r *Record, strs map[string]string) {
	d := decoder{b: meta}
	copy(r.GenerationID[:], d.next(len(r.GenerationID)))
	r.Time = d.time()
	r.KeyID = d.varint()
	r.OrgID = d.varint()
	r.BudgetID = d.varint()
	r.Model = d.str(strs)
	r.Provider = d.str(strs)
	r.UpstreamModel = d.str(strs)
	r.PromptTokens = d.varint()
	r.CompletionTokens = d.varint()
	r.ReasoningTokens = d.varint()
	r.CachedTokens = d.varint()
	r.CacheWriteTokens = d.varint()
	r.Cost = money.Nanos(d.varint())
	r.CacheDiscount = money.Nanos(d.varint())
	r.BYOK = d.bool()
	r.BYOKCost = money.Nanos(d.varint())
	r.Latency = time.Duration(d.varint())
	r.TTFB = time.Duration(d.varint())
	r.Status = int(d.varint())
	r.Streamed = d.bool()
	r.Cancelled = d.bool()
	r.ErrorCode = d.str(strs)
	r.UpstreamID.Set(d.bytes())
	if b := d.next(1); len(b) == 1 {
		r.FinishReason = FinishReason(b[0])
	}
	r.NativeFinishReason.Set(d.bytes())
}

// decodePayload decodes a frame's payload into r (which it overwrites). It reports false for a
// payload whose structure is broken, which a valid checksum makes a bug rather than damage.
func decodePayload(p []byte, r *Record, strs map[string]string) bool {
	*r = Record{}
	if len(p) < 4 {
		return false
	}
	metaLen := int(binary.LittleEndian.Uint32(p))
	if metaLen > len(p)-4 {
		return false
	}
	decodeMeta(p[4:4+metaLen], r, strs)
	rest := p[4+metaLen:]
	if len(rest) == 0 {
		return true
	}
	d := decoder{b: rest}
	bd := &Bodies{RequestSize: d.varint(), ResponseSize: d.varint()}
	nreq, nresp := d.uvarint(), d.uvarint()
	if d.bad || nreq+nresp != uint64(len(d.b)) {
		return false
	}
	if nreq > 0 {
		bd.Request = append([]byte(nil), d.b[:nreq]...)
	}
	if nresp > 0 {
		bd.Response = append([]byte(nil), d.b[nreq:]...)
	}
	r.Bodies = bd
	return true
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads meta fields; past the end every read returns zero (see decodeMeta).
type decoder struct {
	b   []byte
	bad bool // a read ran past the end or met a malformed varint
}

func (d *decoder) next(n int) []byte {
	if n > len(d.b) {
		d.bad = true
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bool() bool {
	b := d.next(1)
	return len(b) == 1 && b[0] != 0
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		d.b = nil
		return nil
	}
	return d.next(int(n))
}

func (d *decoder) str(strs map[string]string) string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	if s, ok := strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(strs) < 4096 { // model and provider ids repeat; anything else is not worth keeping
		strs[s] = s
	}
	return s
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.bad {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}
