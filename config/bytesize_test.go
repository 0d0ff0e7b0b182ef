package config

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want ByteSize
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"512KiB", 512 << 10},
		{"4MiB", 4 << 20},
		{"4mib", 4 << 20},
		{"4 MiB", 4 << 20},
		{"1GiB", 1 << 30},
		{"2TiB", 2 << 40},
		{"4MB", 4_000_000},
		{"4mb", 4_000_000},
		{"3kb", 3000},
		{"1GB", 1_000_000_000},
		{"100B", 100},
		{" 7b ", 7},
	}
	for _, tc := range good {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "expected a whole number"},
		{"MiB", "expected a whole number"},
		{"-1", "must not be negative"},
		{"4M", `unknown unit "M"`},
		{"4 megabytes", `unknown unit "megabytes"`},
		{"1.5MiB", "fractions are not supported"},
		{"9223372036854775808", "too large"},
		{"9000000000TiB", "too large"},
	}
	for _, tc := range bad {
		if _, err := ParseByteSize(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseByteSize(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	for _, b := range []ByteSize{0, 1, 1000, 1024, 4 * MiB, 4_000_000, GiB, 1 << 40, 1536, 12345} {
		s := b.String()
		back, err := ParseByteSize(s)
		if err != nil || back != b {
			t.Errorf("%d -> %q -> %d, %v", int64(b), s, back, err)
		}
	}
	if s := (4 * MiB).String(); s != "4MiB" {
		t.Errorf("4MiB.String() = %q", s)
	}
}

func TestByteSizeYAML(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ByteSize{"2MiB": 2 * MiB, "2097152": 2 * MiB, `"8KiB"`: 8 * KiB} {
		c := mustParse(t, "server: {max_request_body: "+in+"}\n"+minimal)
		if c.Server.MaxRequestBody != want {
			t.Errorf("%s -> %d, want %d", in, c.Server.MaxRequestBody, want)
		}
	}
}
