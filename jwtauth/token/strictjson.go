package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeObject reads data as one JSON object and calls member for each of its
// members in order; member must consume exactly one value from dec. It fails
// on anything but a single object, on more than maxMembers members, on a
// repeated member name (RFC 7515 §5.2 and RFC 7519 §4 let a parser reject
// duplicates; accepting the last one lets a tampered copy win) and on
// trailing data. The member cap comes before the duplicate check, which
// compares each name with the earlier ones: the work stays linear in
// len(data) with a factor of at most maxMembers.
func DecodeObject(data []byte, maxMembers int, member func(name string, dec *json.Decoder) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	var seen [16]string
	names := seen[:0]
	for dec.More() {
		if len(names) == maxMembers {
			return fmt.Errorf("too many members (at most %d)", maxMembers)
		}
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("bad JSON: %w", err)
		}
		name, _ := tok.(string)
		for _, n := range names {
			if n == name {
				return fmt.Errorf("duplicate member %q", name)
			}
		}
		names = append(names, name)
		if err := member(name, dec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// maxNesting bounds the depth of arrays and objects inside a member value,
// so a token or body of nested brackets cannot cost deep recursion.
const maxNesting = 32

// SkipValue consumes one value of any type, nested at most 32 deep.
// The value is read whole by the decoder's scanner (no per-token work or
// allocation, so a 1 MiB array of small numbers costs what its bytes cost)
// and then its depth is counted.
func SkipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if nestingDepth(raw) > maxNesting {
		return fmt.Errorf("nested deeper than %d levels", maxNesting)
	}
	return nil
}

// nestingDepth returns the deepest nesting of arrays and objects in raw, a
// valid JSON value; brackets inside strings do not count.
func nestingDepth(raw []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString:
			if c == '\\' {
				i++ // the escaped byte cannot end the string
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > deepest {
				deepest = depth
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// StringValue decodes one JSON string; any other type is an error naming name.
func StringValue(dec *json.Decoder, name string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", name)
	}
	return s, nil
}

// maxNumericDate bounds NumericDate values to the year 9999, so that time
// arithmetic cannot overflow.
const maxNumericDate = 253402300799
