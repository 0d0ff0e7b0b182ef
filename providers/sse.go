package providers

import "bytes"

// SplitEvent parses one server-sent event, as delimited by a blank line, into its event name
// and data. Lines may end in "\n" or "\r\n" (Gemini uses the latter). Comments, id and retry
// fields are skipped. Several data lines are joined with "\n" as the SSE specification says;
// only then does SplitEvent allocate, otherwise both results alias ev. An event with no data
// line returns nil data.
func SplitEvent(ev []byte) (event, data []byte) {
	var joined []byte
	nData := 0
	for len(ev) > 0 {
		var line []byte
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			line, ev = ev, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "event":
			event = value
		case "data":
			nData++
			switch nData {
			case 1:
				data = value
			case 2:
				joined = append(append(append(joined, data...), '\n'), value...)
				data = joined
			default:
				joined = append(append(joined, '\n'), value...)
				data = joined
			}
		}
	}
	if nData > 0 && data == nil {
		data = []byte{}
	}
	return event, data
}
