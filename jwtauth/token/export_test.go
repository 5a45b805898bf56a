package token

// CachedTokens returns how many verified tokens v's cache holds (0 when off).
func CachedTokens(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.Len()
}

// IsCached reports whether raw is in v's cache, leaving its recency as it is.
func IsCached(v *Verifier, raw string) bool {
	if v.cache == nil {
		return false
	}
	_, ok := v.cache.Peek(raw)
	return ok
}
