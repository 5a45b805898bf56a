package credential

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// Username and password limits. Passwords follow NIST SP 800-63B §3.1.1.2:
// at least 8 characters, long passphrases allowed, never truncated.
const (
	MaxUsernameLength = 64   // characters, after normalization
	MinPasswordLength = 8    // characters
	MaxPasswordLength = 1024 // characters
)

// maxUsernameInput bounds the raw username (bytes) before normalization, so
// that an oversized field is refused without running PRECIS over it.
const maxUsernameInput = 4 * MaxUsernameLength * utf8.UTFMax

// NormalizeUsername applies the PRECIS UsernameCaseMapped profile (RFC 8265
// §3.3: width mapping, case folding, NFC, no spaces, controls or unassigned
// code points, the Bidi Rule of RFC 5893), so "Alice" and "alice" name one
// account, then the length limit (1 to MaxUsernameLength characters) and a
// script-mixing rule PRECIS does not have: the letters of a username must
// come from one script, or from one of the combinations Unicode Technical
// Standard #39 §5.2 calls "highly restrictive" (Latin with Han, Hiragana and
// Katakana; Latin with Han and Bopomofo; Latin with Han and Hangul).
// Characters of the Common and Inherited scripts (digits, punctuation,
// combining marks) go with any script. So "pаypal" with a Cyrillic "а" is
// refused, a confusable of "paypal" that PRECIS alone would accept. The
// error's text says which rule failed, without the username; package
// account answers it as its *Error invalid_request.
func NormalizeUsername(s string) (string, error) {
	if len(s) > maxUsernameInput {
		return "", fmt.Errorf("username must be at most %d characters", MaxUsernameLength)
	}
	n, err := precis.UsernameCaseMapped.String(s)
	if err != nil || n == "" {
		return "", errors.New("username must be a non-empty string of letters, digits and symbols without spaces or control characters")
	}
	if utf8.RuneCountInString(n) > MaxUsernameLength {
		return "", fmt.Errorf("username must be at most %d characters", MaxUsernameLength)
	}
	if mixesScripts(n) {
		return "", errors.New("username must not mix letters of different scripts")
	}
	return n, nil
}

// Script sets of UTS #39 §5.2 "highly restrictive" beyond a single script.
const (
	scriptLatin = 1 << iota
	scriptHan
	scriptHiragana
	scriptKatakana
	scriptBopomofo
	scriptHangul
	scriptOther // any other script; two different others never mix
)

var allowedScriptSets = []int{
	scriptLatin | scriptHan | scriptHiragana | scriptKatakana,
	scriptLatin | scriptHan | scriptBopomofo,
	scriptLatin | scriptHan | scriptHangul,
}

// mixesScripts reports whether s holds letters of scripts that UTS #39
// "highly restrictive" does not allow together.
func mixesScripts(s string) bool {
	set := 0
	var other *unicode.RangeTable // the one script outside the named sets
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
				set |= scriptLatin
			}
			continue
		case unicode.In(r, unicode.Common, unicode.Inherited):
			continue
		case unicode.Is(unicode.Latin, r):
			set |= scriptLatin
		case unicode.Is(unicode.Han, r):
			set |= scriptHan
		case unicode.Is(unicode.Hiragana, r):
			set |= scriptHiragana
		case unicode.Is(unicode.Katakana, r):
			set |= scriptKatakana
		case unicode.Is(unicode.Bopomofo, r):
			set |= scriptBopomofo
		case unicode.Is(unicode.Hangul, r):
			set |= scriptHangul
		default:
			if other != nil && unicode.Is(other, r) {
				continue
			}
			if other != nil {
				return true // two scripts outside the named sets
			}
			other = scriptOf(r)
			set |= scriptOther
		}
	}
	if set&(set-1) == 0 { // zero or one script
		return false
	}
	if set&scriptOther != 0 {
		return true
	}
	for _, ok := range allowedScriptSets {
		if set&^ok == 0 {
			return false
		}
	}
	return true
}

// scriptOf returns the Unicode script table holding r, or a table holding
// only r when r has none (an unassigned code point cannot pass PRECIS).
func scriptOf(r rune) *unicode.RangeTable {
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t
		}
	}
	return &unicode.RangeTable{R32: []unicode.Range32{{Lo: uint32(r), Hi: uint32(r), Stride: 1}}}
}

// CheckPassword applies the password policy: MinPasswordLength to
// MaxPasswordLength characters of valid UTF-8. The error's text says which
// rule failed, without the password; package account answers it as its
// *Error invalid_request.
func CheckPassword(p string) error {
	if !utf8.ValidString(p) {
		return errors.New("password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(p); n < MinPasswordLength || n > MaxPasswordLength {
		return fmt.Errorf("password must be %d to %d characters", MinPasswordLength, MaxPasswordLength)
	}
	return nil
}
