// Package logcheck reads ferry's JSON log lines the way a log shipper
// would, for tests: it finds keys written twice in one record, which
// encoding/json would silently merge.
package logcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DuplicateKeys returns the keys that appear more than once in one object
// of the JSON record line (at any depth, each object on its own), dotted
// with their parents' keys.
func DuplicateKeys(line []byte) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var dups []string
	if err := walk(d, "", &dups); err != nil {
		return nil, fmt.Errorf("unable to parse log line %q: %w", line, err)
	}
	return dups, nil
}

// walk reads one JSON value from d.
func walk(d *json.Decoder, path string, dups *[]string) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			if seen[key] {
				*dups = append(*dups, path+key)
			}
			seen[key] = true
			if err := walk(d, path+key+".", dups); err != nil {
				return err
			}
		}
	case '[':
		for d.More() {
			if err := walk(d, path, dups); err != nil {
				return err
			}
		}
	}
	_, err = d.Token() // the closing delimiter
	return err
}
