package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// decodeObject reads data as one JSON object and calls member for each of its
// members in order; member must consume exactly one value from dec. It fails
// on anything but a single object, on more than maxMembers members, on a
// repeated member name (RFC 7515 §5.2 and RFC 7519 §4 let a parser reject
// duplicates; accepting the last one lets a tampered copy win) and on
// trailing data. The member cap comes before the duplicate check, which
// compares each name with the earlier ones: the work stays linear in
// len(data) with a factor of at most maxMembers.
func decodeObject(data []byte, maxMembers int, member func(name string, dec *json.Decoder) error) error {
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

// maxBodyMembers bounds the members of an account request body, whose
// objects have at most two known fields; room is left for clients that send
// a few extra ones (ignored).
const maxBodyMembers = 32

// skipValue consumes one value of any type, nested at most maxNesting deep.
// The value is read whole by the decoder's scanner (no per-token work or
// allocation, so a 1 MiB array of small numbers costs what its bytes cost)
// and then its depth is counted.
func skipValue(dec *json.Decoder) error {
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

// loneSurrogate reports whether data, UTF-8 JSON text, holds a \u escape of
// a UTF-16 surrogate (U+D800 to U+DFFF) that is not a high surrogate
// (\uD800-\uDBFF) directly followed by the escape of a low one
// (\uDC00-\uDFFF), which together name one character (RFC 8259 §7).
// encoding/json decodes such an unpaired escape into U+FFFD, so "\ud800" and
// "\udfff" would be the same string as a real U+FFFD. A backslash only
// starts an escape inside a string, so the scan needs no other JSON state;
// malformed text is left to the decoder. It is linear in len(data).
func loneSurrogate(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		i++ // the escaped byte: '\\' or '"' cannot start an escape
		if i >= len(data) || data[i] != 'u' {
			continue
		}
		r, ok := hex4(data[i+1:])
		if !ok || r < 0xD800 || r > 0xDFFF {
			continue
		}
		if r >= 0xDC00 {
			return true // a low surrogate not after a high one
		}
		// A high surrogate: the next six bytes must be \u and a low one.
		next := data[i+5:]
		if len(next) < 6 || next[0] != '\\' || next[1] != 'u' {
			return true
		}
		if low, ok := hex4(next[2:]); !ok || low < 0xDC00 || low > 0xDFFF {
			return true
		}
		i += 10 // the pair's last hex digit
	}
	return false
}

// hex4 decodes the four hex digits that start b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// stringValue decodes one JSON string; any other type is an error.
func stringValue(dec *json.Decoder, name string) (string, error) {
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
