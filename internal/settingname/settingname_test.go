package settingname_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/jwtauth/jwtauth/internal/settingname"
)

// TestName: a Config field is named as the Config field unless the context
// carries the caller's name for it.
func TestName(t *testing.T) {
	ctx := t.Context()
	assert.Equal(t, "jwtauth.Config.KeyEncryptionKey", settingname.Name(ctx, "KeyEncryptionKey"))
	ctx = settingname.WithNames(ctx, map[string]string{"KeyEncryptionKey": "--key-encryption-key"})
	assert.Equal(t, "--key-encryption-key", settingname.Name(ctx, "KeyEncryptionKey"))
	assert.Equal(t, "jwtauth.Config.Prepublish", settingname.Name(ctx, "Prepublish"), "a field the caller did not name")
}
