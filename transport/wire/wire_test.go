package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// codec adapts one body type to the shared tests.
type codec struct {
	name  string
	value any
	enc   func(v any, b []byte) []byte
	parse func(b []byte) (any, int, error)
}

func codecs() []codec {
	wrap := func(name string, v any, enc func(any, []byte) []byte, p func([]byte) (any, int, error)) codec {
		return codec{name, v, enc, p}
	}
	return []codec{
		wrap("header", Header{Type: TypeFeedback, Flags: FlagFromReceiver, Session: SessionID{1, 2, 3, 9}, Number: MaxNumber - 7},
			func(v any, b []byte) []byte { return v.(Header).Append(b) },
			func(b []byte) (any, int, error) { return ParseHeader(b) }),
		wrap("data", Data{File: 7, Offset: MaxOffset - 12, SentAt: 1<<32 - 1, Payload: []byte("hello, ferry")},
			func(v any, b []byte) []byte { return v.(Data).Append(b) },
			func(b []byte) (any, int, error) { return ParseData(b) }),
		wrap("data-empty", Data{File: 1, Offset: 0, SentAt: 0, Payload: []byte{}},
			func(v any, b []byte) []byte { return v.(Data).Append(b) },
			func(b []byte) (any, int, error) { return ParseData(b) }),
		wrap("file", File{ID: 3, Flags: FileFresh, Size: 5 << 30, Hash: 0xdeadbeefcafe, Mode: 0o644, Mtime: 1700000000123456789, Path: "dir/sub/ä file.txt"},
			func(v any, b []byte) []byte { return v.(File).Append(b) },
			func(b []byte) (any, int, error) { return ParseFile(b) }),
		wrap("file-part", File{ID: 4, Flags: FilePart, Size: 5 << 30, Hash: 7, Mode: 0o600, Mtime: 1, Path: "big.iso", PartOff: 1 << 30, PartLen: 2 << 30},
			func(v any, b []byte) []byte { return v.(File).Append(b) },
			func(b []byte) (any, int, error) { return ParseFile(b) }),
		wrap("accept", Accept{ID: 9, Code: CodeOK, ChunkSize: 1 << 20, Part: 1, Parts: 3, Chunks: []Chunk{{0, 11}, {5, 1<<64 - 1}}},
			func(v any, b []byte) []byte { return v.(Accept).Append(b) },
			func(b []byte) (any, int, error) { return ParseAccept(b) }),
		wrap("accept-refused", Accept{ID: 9, Code: CodeNoSpace, Msg: "no room", Parts: 1},
			func(v any, b []byte) []byte { return v.(Accept).Append(b) },
			func(b []byte) (any, int, error) { return ParseAccept(b) }),
		wrap("feedback", Feedback{AckDelay: 3 * time.Millisecond, RecvRate: 95e6, Received: 812, OWDSamples: 800, MinOWD: -time.Second, MeanOWD: 20 * time.Millisecond,
			Want:   RateRequest{Policy: 3, Target: 50e6, Max: 80e6},
			Ranges: []Range{{Lo: 1000, Hi: 1200}, {Lo: 998, Hi: 998}, {Lo: 2, Hi: 990}, {Lo: 0, Hi: 0}}},
			func(v any, b []byte) []byte { return v.(Feedback).Append(b) },
			func(b []byte) (any, int, error) { return ParseFeedback(b) }),
		wrap("status", Status{ID: 4, Code: CodeChanged, Msg: "changed while sending"},
			func(v any, b []byte) []byte { return v.(Status).Append(b) },
			func(b []byte) (any, int, error) { return ParseStatus(b) }),
		wrap("probe", Probe{ID: 4, Size: 99},
			func(v any, b []byte) []byte { return v.(Probe).Append(b) },
			func(b []byte) (any, int, error) { return ParseProbe(b) }),
		wrap("done", Done{Files: 10000},
			func(v any, b []byte) []byte { return v.(Done).Append(b) },
			func(b []byte) (any, int, error) { return ParseDone(b) }),
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range codecs() {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := c.enc(c.value, append([]byte(nil), prefix...))
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("Append clobbered the buffer it was given")
			}
			// Trailing bytes belong to the next field; n says where it
			// starts. A DATA payload runs to the end of the body.
			trail := []byte{0xEE, 0xEE}
			if runsToEnd(c.name) {
				trail = nil
			}
			body := append(b[len(prefix):], trail...)
			got, n, err := c.parse(body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if n != len(body)-len(trail) {
				t.Fatalf("parse consumed %d bytes, want %d", n, len(body)-len(trail))
			}
			if !reflect.DeepEqual(got, c.value) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, c.value)
			}
		})
	}
}

// runsToEnd reports whether a codec's last field takes the rest of the
// body (a DATA payload): its prefixes past the fixed fields parse, to a
// shorter payload; seal's tag is what keeps a datagram from being cut.
func runsToEnd(name string) bool { return name == "data" || name == "data-empty" }

func TestTruncatedPrefixesAreRejected(t *testing.T) {
	for _, c := range codecs() {
		t.Run(c.name, func(t *testing.T) {
			b := c.enc(c.value, nil)
			end := len(b)
			if runsToEnd(c.name) {
				end = DataOverhead
			}
			for i := 0; i < end; i++ {
				if _, _, err := c.parse(b[:i]); err == nil {
					t.Fatalf("prefix of %d/%d bytes parsed without error", i, len(b))
				} else if !errors.Is(err, ErrShort) {
					t.Fatalf("prefix of %d/%d bytes: %v, want ErrShort", i, len(b), err)
				}
			}
		})
	}
}

func TestParseHeaderRejectsUnknownVersionTypeAndFlags(t *testing.T) {
	good := Header{Type: TypeData, Number: 1}.Append(nil)
	for _, tc := range []struct {
		name string
		val  byte
	}{
		{"version 1", 1<<versionShift | byte(TypeData)},
		{"version 2", 2<<versionShift | byte(TypeData)},
		{"version 0", byte(TypeData)},
		// A version-1 packet began with the byte 1: it must not parse as
		// anything of this version.
		{"a version-1 packet", 1},
		{"type zero", Version << versionShift},
		{"type unknown", Version<<versionShift | byte(typeEnd)},
		{"flags", Version<<versionShift | 2<<flagsShift | byte(TypeData)},
	} {
		b := append([]byte(nil), good...)
		b[0] = tc.val
		if _, _, err := ParseHeader(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
		}
	}
}

// TestHeaderLayout pins the packed header byte for byte: 11 bytes where
// version 1 used 27, on every packet.
func TestHeaderLayout(t *testing.T) {
	h := Header{Type: TypeFeedback, Flags: FlagFromReceiver, Session: SessionID{0xa1, 0xa2, 0xa3, 0xa4}, Number: 0x010203040506}
	want := []byte{0xc0 | 0x10 | byte(TypeFeedback), 0xa1, 0xa2, 0xa3, 0xa4, 1, 2, 3, 4, 5, 6}
	if got := h.Append(nil); !bytes.Equal(got, want) || len(got) != HeaderLen {
		t.Fatalf("header = % x, want % x", got, want)
	}
	d := Data{File: 0x01020304, Offset: 0x0a0b0c0d0e0f, SentAt: 0x11121314, Payload: []byte{0xff}}
	wantD := []byte{1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x11, 0x12, 0x13, 0x14, 0xff}
	if got := d.Append(nil); !bytes.Equal(got, wantD) || len(got) != DataOverhead+1 {
		t.Fatalf("data = % x, want % x", got, wantD)
	}
}

func TestUnwrapMicros(t *testing.T) {
	const span = int64(1) << 32
	for _, tc := range []struct {
		ref  int64
		v    uint32
		want int64
	}{
		{0, 0, 0},
		{1000, 1500, 1500},
		{span + 10, 5, span + 5},            // just past a wrap
		{span - 10, 5, span + 5},            // the value wrapped, the reference not yet
		{span + 10, 1<<32 - 3, span - 3},    // the value from just before the wrap
		{5 * span, 1 << 31, 5*span + 1<<31}, // half a span away: either is near, take the one above
		{7*span + 100, 100 + 1<<30, 7*span + 100 + 1<<30},
	} {
		if got := UnwrapMicros(tc.ref, tc.v); got != tc.want {
			t.Errorf("UnwrapMicros(%d, %d) = %d, want %d", tc.ref, tc.v, got, tc.want)
		}
	}
}

func TestParseFeedbackRejectsOverlappingRanges(t *testing.T) {
	// A first range ending at 1 followed by another range has nowhere to go.
	f := Feedback{Ranges: []Range{{Lo: 1, Hi: 5}}}
	b := f.Append(nil)
	b[len(b)-3] = 2 // low byte of the range count, just before the two one-byte varints
	b = append(b, 0, 0)
	if _, _, err := ParseFeedback(b); err == nil {
		t.Fatalf("feedback with a range below packet 0 parsed")
	}
}

func TestParseAcceptRejectsBadParts(t *testing.T) {
	for _, a := range []Accept{{ID: 1, Parts: 0}, {ID: 1, Part: 2, Parts: 2}, {ID: 1, Parts: 1, Chunks: []Chunk{{1, 1}}}} {
		if _, _, err := ParseAccept(a.Append(nil)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v: err = %v, want ErrMalformed", a, err)
		}
	}
}

func TestParseRejectsNegativeSizes(t *testing.T) {
	b := Probe{ID: 1, Size: 1}.Append(nil)
	b[4] = 0x80
	if _, _, err := ParseProbe(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("negative size: err = %v, want ErrMalformed", err)
	}
}

// TestFileAnnouncementIsPacked pins FILE's size for a typical small file:
// varint id, size and mode (version 3) instead of 16 fixed bytes.
func TestFileAnnouncementIsPacked(t *testing.T) {
	f := File{ID: 300, Size: 10000, Hash: 1, Mode: 0o644, Mtime: 1700000000123456789, Path: "a"}
	// id 2, flags 1, size 2, hash 8, mode 2, mtime 8, path 2+1.
	if got := len(f.Append(nil)); got != 26 {
		t.Fatalf("FILE body of %d bytes, want 26", got)
	}
}

func TestFilePartOutsideTheFileIsRefused(t *testing.T) {
	for _, f := range []File{
		{ID: 1, Flags: FilePart, Size: 100, PartOff: 90, PartLen: 11, Path: "a"},
		{ID: 1, Flags: FilePart, Size: 100, PartOff: 101, PartLen: 1, Path: "a"},
		{ID: 1, Flags: FilePart, Size: 100, PartOff: 0, PartLen: 0, Path: "a"},
	} {
		if _, _, err := ParseFile(f.Append(nil)); !errors.Is(err, ErrMalformed) {
			t.Errorf("part %d+%d of %d: %v, want ErrMalformed", f.PartOff, f.PartLen, f.Size, err)
		}
	}
}
