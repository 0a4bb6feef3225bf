package logcheck

import (
	"slices"
	"testing"
)

func TestDuplicateKeys(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`{"msg":"x","job":"a"}`, nil},
		{`{"msg":"x","job":"a","job":"a"}`, []string{"job"}},
		{`{"a":{"b":1,"b":2},"c":[{"d":1,"d":1}],"e":{"b":1}}`, []string{"a.b", "c.d"}},
	} {
		got, err := DuplicateKeys([]byte(c.line))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("DuplicateKeys(%s) = %v, %v; want %v", c.line, got, err, c.want)
		}
	}
	if _, err := DuplicateKeys([]byte(`{"a":`)); err == nil {
		t.Error("a truncated line parsed")
	}
}
