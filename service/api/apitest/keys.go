package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// BadKeys decodes the JSON document doc and returns the path of every
// object key, at any depth, that breaks ferry's JSON schema rules
// (docs/json.md): keys are snake_case, and no duration or time is in
// nanoseconds (a key ending in _ns). Paths read like "jobs[*].bandwidth.Upload".
func BadKeys(doc []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("unable to decode JSON document: %w", err)
	}
	var bad []string
	walkKeys(v, "", &bad)
	slices.Sort(bad)
	return slices.Compact(bad), nil
}

// Keys returns the path of every object key in doc, for tests that check
// a field is there at all.
func Keys(doc []byte) ([]string, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("unable to decode JSON document: %w", err)
	}
	var all []string
	collect(v, "", func(path, _ string) { all = append(all, path) })
	return all, nil
}

func walkKeys(v any, at string, bad *[]string) {
	collect(v, at, func(path, key string) {
		if !snakeCase.MatchString(key) || strings.HasSuffix(key, "_ns") {
			*bad = append(*bad, path)
		}
	})
}

// collect calls fn for every key below v; list indices become [*] so that
// every element of a list has the same path.
func collect(v any, at string, fn func(path, key string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if at != "" {
				p = at + "." + k
			}
			fn(p, k)
			collect(e, p, fn)
		}
	case []any:
		for _, e := range x {
			collect(e, at+"[*]", fn)
		}
	}
}
