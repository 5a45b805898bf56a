// Package account is the account flow of jwtauth: register, login, refresh
// and logout over store ports, with the credential rules of package
// credential (argon2id hashing and bcrypt verification, the password
// policy, usernames normalized by PRECIS, RFC 8265), login timing that does
// not tell which users exist or how their hash is stored, login and
// registration throttling with device tokens, and refresh-token families
// with rotation and reuse detection (RFC 9700 §4.14.2).
//
// It issues access tokens with a token.Issuer and answers with typed
// errors (*Error, told apart by its Code); it has no HTTP handlers and no
// metrics library. The HTTP face, package jwtauth, serves the flow as
// POST /register, /login, /refresh and /logout, maps each *Error to its
// status, and feeds its Prometheus metrics from a Trace.
//
// The ports (UserStore, RefreshTokenStore, RefreshTokenGraceStore,
// ThrottleStore, and Store for all of them with the key set) are
// implemented by adapters/memory, adapters/sqlite and adapters/postgres, and
// checked by jwtauth/storetest. An application with its own users table
// implements UserStore over it.
package account
