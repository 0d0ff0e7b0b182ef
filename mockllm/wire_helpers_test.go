package mockllm

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// sseEvent is one server-sent event with its name, for the Anthropic and Gemini modes.
type sseEvent struct{ name, data string }

// readEvents reads a whole event stream, accepting "\n" and "\r\n" line ends; err is how the
// body ended (nil when clean).
func readEvents(t *testing.T, resp *http.Response) ([]sseEvent, error) {
	t.Helper()
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var evs []sseEvent
	var cur sseEvent
	have := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && !have {
				return evs, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return evs, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if have {
				evs = append(evs, cur)
			}
			cur, have = sseEvent{}, false
		case strings.HasPrefix(line, "event: "):
			cur.name, have = line[len("event: "):], true
		case strings.HasPrefix(line, "data: "):
			cur.data, have = line[len("data: "):], true
		}
	}
}

func eventNames(evs []sseEvent) string {
	var names []string
	for _, e := range evs {
		names = append(names, e.name)
	}
	return strings.Join(names, ",")
}
