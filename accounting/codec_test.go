package accounting

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"
)

// filledRecord sets every field of a Record to a distinct non-zero value, by reflection, so that
// a field added to Record is filled here without anyone remembering to. A field of a kind it
// does not know fails the test: teach it, and appendMeta, the new kind.
func filledRecord(t *testing.T) Record {
	t.Helper()
	var r Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		n := int64(1000 + i*7)
		if s, ok := f.Addr().Interface().(interface{ SetString(string) }); ok {
			s.SetString("value-of-" + name)
			continue
		}
		switch x := f.Addr().Interface().(type) {
		case *GenerationID:
			*x = NewGenerationID(time.Now())
			continue
		case *time.Time:
			*x = time.Unix(1_700_000_000+n, 123456789)
			continue
		case **Bodies:
			*x = &Bodies{Request: []byte(`{"messages":[{"role":"user","content":"hi"}]}`), Response: []byte(`{"choices":[]}`), RequestSize: 4000, ResponseSize: 14}
			continue
		}
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(-n) // negative values exercise the zig-zag varints
		case reflect.Uint8:
			f.SetUint(uint64(3 + i%3))
		case reflect.String:
			f.SetString("value-of-" + name)
		case reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("Record.%s is a %s, which this test (and probably the spool codec, codec.go) does not handle", name, f.Type())
		}
	}
	return r
}

// roundTrip encodes r as the spool does and decodes it back.
func roundTrip(t *testing.T, r *Record, withBodies bool) Record {
	t.Helper()
	head, req, resp := appendFrameHead(nil, r, withBodies)
	frame := append(append(append([]byte(nil), head...), req...), resp...)
	frame = append(frame, make([]byte, alignFrame(len(frame))-len(frame))...)
	sealFrame(frame)
	payload, next, st := readFrame(frame, 0, len(frame))
	if st != frameOK || next != len(frame) {
		t.Fatalf("readFrame: status %d, next %d of %d", st, next, len(frame))
	}
	var got Record
	if !decodePayload(payload, &got, map[string]string{}) {
		t.Fatal("decodePayload failed")
	}
	return got
}

// Every field of Record survives the spool. A field appendMeta does not write comes back zero
// and fails here: the spool would silently lose it after a crash.
func TestCodecCoversEveryField(t *testing.T) {
	t.Parallel()
	want := filledRecord(t)
	got := roundTrip(t, &want, true)
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		if wv.Field(i).IsZero() {
			t.Fatalf("filledRecord left Record.%s zero", name)
		}
		if gv.Field(i).IsZero() {
			t.Errorf("Record.%s does not survive the spool: add it at the end of appendMeta and decodeMeta (accounting/codec.go)", name)
			continue
		}
		switch w := wv.Field(i).Interface().(type) {
		case time.Time:
			if !w.Equal(got.Time) {
				t.Errorf("Record.%s = %v, want %v", name, gv.Field(i), w)
			}
		default:
			if !reflect.DeepEqual(gv.Field(i).Interface(), w) {
				t.Errorf("Record.%s = %#v, want %#v", name, gv.Field(i), w)
			}
		}
	}
	// Without bodies (prompt logging off, or bodies over their bound) only Bodies is lost.
	noBodies := roundTrip(t, &want, false)
	if noBodies.Bodies != nil || noBodies.GenerationID != want.GenerationID || noBodies.Cost != want.Cost {
		t.Errorf("without bodies: %+v", noBodies)
	}
	zero := Record{GenerationID: want.GenerationID}
	if got := roundTrip(t, &zero, true); !reflect.DeepEqual(got, Record{GenerationID: want.GenerationID, Time: got.Time}) || !got.Time.IsZero() {
		t.Errorf("a record with only an id came back as %+v", got)
	}
}

// A frame written by an older binary has fewer fields in its meta: they decode as zero. One
// written by a newer binary has more: they are ignored. Neither may fail or panic.
func TestCodecReadsShorterAndLongerMeta(t *testing.T) {
	t.Parallel()
	r := filledRecord(t)
	full := appendMeta(nil, &r)
	for cut := 0; cut <= len(full); cut++ {
		var got Record
		decodeMeta(full[:cut], &got, map[string]string{})
		if cut == len(full) && got.NativeFinishReason != r.NativeFinishReason {
			t.Fatalf("full meta lost the last field")
		}
	}
	longer := append(append([]byte(nil), full...), 0x01, 0x02, 0x03)
	var got Record
	decodeMeta(longer, &got, map[string]string{})
	r.Bodies = nil
	if got.Time.Equal(r.Time) {
		got.Time = r.Time
	}
	if got != r {
		t.Errorf("meta with unknown trailing fields: %+v, want %+v", got, r)
	}
}

func TestReadFrameDetectsDamage(t *testing.T) {
	t.Parallel()
	r := filledRecord(t)
	head, req, resp := appendFrameHead(nil, &r, true)
	frame := append(append(append([]byte(nil), head...), req...), resp...)
	frame = append(frame, make([]byte, alignFrame(len(frame))-len(frame)+64)...) // zeros after it
	sealFrame(frame)
	size := alignFrame(len(head) + len(req) + len(resp))

	if _, next, st := readFrame(frame, 0, len(frame)); st != frameOK || next != size {
		t.Fatalf("intact frame: status %d next %d", st, next)
	}
	if _, _, st := readFrame(frame, size, len(frame)); st != frameEnd {
		t.Errorf("zeros after the last frame: status %d, want the end", st)
	}
	if _, _, st := readFrame(frame, 0, size-1); st != frameEnd {
		t.Errorf("a frame cut short (torn write): status %d, want the end", st)
	}
	bad := bytes.Clone(frame)
	bad[frameHeader+20] ^= 0x40
	if _, next, st := readFrame(bad, 0, len(bad)); st != frameCorrupt || next != size {
		t.Errorf("flipped bit: status %d next %d, want corrupt and skipped", st, next)
	}
	huge := bytes.Clone(frame)
	binary.LittleEndian.PutUint32(huge, 1<<31)
	if _, _, st := readFrame(huge, 0, len(huge)); st != frameEnd {
		t.Errorf("absurd length: status %d, want the end", st)
	}
}
