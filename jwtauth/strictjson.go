package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// decodeObject reads data as one JSON object and calls member for each of its
// members in order; member must consume exactly one value from dec. It fails
// on anything but a single object, on a repeated member name (RFC 7515 §5.2
// and RFC 7519 §4 let a parser reject duplicates; accepting the last one lets
// a tampered copy win) and on trailing data.
func decodeObject(data []byte, member func(name string, dec *json.Decoder) error) error {
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

// skipValue consumes one value of any type.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
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

// numericDate decodes an RFC 7519 §2 NumericDate: a JSON number (never a
// string), non-negative, at most the year 9999, fractions allowed.
func numericDate(dec *json.Decoder, name string) (time.Time, error) {
	tok, err := dec.Token()
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	n, ok := tok.(json.Number)
	if !ok {
		return time.Time{}, fmt.Errorf("%s must be a JSON number (NumericDate)", name)
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < 0 || i > maxNumericDate {
			return time.Time{}, fmt.Errorf("%s out of range", name)
		}
		return time.Unix(i, 0), nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%s out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// audienceValue decodes aud: a string or an array of strings (RFC 7519 §4.1.3).
func audienceValue(dec *json.Decoder) ([]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("aud: %w", err)
	}
	switch t := tok.(type) {
	case string:
		return []string{t}, nil
	case json.Delim:
		if t != '[' {
			break
		}
		var out []string
		for dec.More() {
			s, err := stringValue(dec, "aud member")
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("aud: %w", err)
		}
		return out, nil
	}
	return nil, errors.New("aud must be a string or an array of strings")
}
