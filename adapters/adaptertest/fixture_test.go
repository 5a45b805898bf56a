package adaptertest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFixture checks the fixture itself: an active and a next key from the
// fixed test keys, an outsider that is not in the set, and tokens the
// authenticator accepts.
func TestFixture(t *testing.T) {
	f := NewFixture(t)
	set := f.Keys.Current()
	require.Len(t, set.Published(), 2)
	require.NotNil(t, set.Active())
	require.NotNil(t, set.Next())
	assert.NotEqual(t, set.Active().KID, set.Next().KID)
	_, ok := set.Lookup(thumbprint(t, &f.Outsider.PublicKey))
	assert.False(t, ok, "the outsider key must not be in the key set")

	c, err := f.Auth.Verifier.Verify(context.Background(), f.Token(t, "alice"))
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)

	// Two fixtures are independent but reuse the same fixed keys.
	g := NewFixture(t)
	assert.Equal(t, set.Active().KID, g.ActiveKey(t).KID)
	_, err = g.Auth.Verifier.Verify(context.Background(), f.Token(t, "alice"))
	require.NoError(t, err)
}
