package jwtauthtest

import "crypto/rsa"

// PoolSize is the number of fixed keys embedded in testdata.
const PoolSize = poolSize

// JWKSRequests returns how many requests the JWKS endpoint has answered.
func (s *Server) JWKSRequests() int { return s.jwksRequests.count() }

// SetGenerate replaces the generator used once the fixed keys are used up.
func (s *Server) SetGenerate(f func(bits int) (*rsa.PrivateKey, error)) {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	s.pool.generate = f
}

// OutsiderKID is the kid of the key Unpublished tokens are signed with.
func (s *Server) OutsiderKID() string { return s.pool.outsiderKID }
