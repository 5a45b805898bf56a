// Package settingname lets a program that configures jwtauth.New from its own
// settings, the jwtauth command, have New's messages name those settings
// (a flag and its variable) instead of the Config fields an application
// sets in library mode. It is internal: an application sees Config names.
package settingname

import "context"

type namesKey struct{}

// WithNames returns ctx carrying names: for a Config field name such as
// "KeyEncryptionKey", how the caller's user sets it, e.g.
// "--key-encryption-key or JWTAUTH_KEY_ENCRYPTION_KEY".
func WithNames(ctx context.Context, names map[string]string) context.Context {
	return context.WithValue(ctx, namesKey{}, names)
}

// Name returns how a message names the Config field: the name ctx carries
// for it (WithNames), else "jwtauth.Config." + field.
func Name(ctx context.Context, field string) string {
	if names, ok := ctx.Value(namesKey{}).(map[string]string); ok {
		if n, ok := names[field]; ok {
			return n
		}
	}
	return "jwtauth.Config." + field
}
