// Command dpopclient is a Go client of `jwtauth serve` that holds a DPoP key
// (RFC 9449): it logs in with a proof, so its tokens are bound to the key,
// calls /protected with the bound token and a proof for that call, and
// refreshes with a proof by the same key. docs/dpop.md explains each step.
//
//	go run ./examples/dpopclient -issuer http://127.0.0.1:8080 -user alice -password 'correct horse battery staple'
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/jwtauth/jwtauth/jwtauth/dpop"
)

// tokens is the answer of /login and /refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"` // "DPoP" when bound to the key
	RefreshToken string `json:"refresh_token"`
}

// client calls one issuer (its --issuer URL: call it by that name, a proof
// names the URL) with one key.
type client struct {
	issuer string
	key    *ecdsa.PrivateKey // keep it for the session, or for the installation
	http   *http.Client
}

// post sends body to issuer+path with a fresh proof (no ath: no access
// token yet). An answer other than 200 is an error with its body: e.g. 400
// invalid_dpop_proof, or use_dpop_nonce with a DPoP-Nonce header to retry
// with (dpop.ProofOptions.Nonce) when the server asks for nonces.
func (c *client) post(path string, body any) (*tokens, error) {
	proof, err := dpop.NewProof(c.key, http.MethodPost, c.issuer+path, dpop.ProofOptions{})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.issuer+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("DPoP", proof)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("POST %s: %s %s", path, res.Status, msg)
	}
	var t tokens
	return &t, json.NewDecoder(res.Body).Decode(&t)
}

// get sends GET url with the bound access token and a proof for this call,
// whose ath is the token's hash.
func (c *client) get(t *tokens, url string) (int, string, error) {
	proof, err := dpop.NewProof(c.key, http.MethodGet, url, dpop.ProofOptions{AccessToken: t.AccessToken})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", t.TokenType+" "+t.AccessToken) // "DPoP <token>"
	req.Header.Set("DPoP", proof)
	res, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, string(body), err
}

// run logs in, calls /protected, refreshes and calls again, and returns
// what it saw, one line per step.
func run(c *client, user, password string) ([]string, error) {
	t, err := c.post("/login", map[string]string{"username": user, "password": password})
	if err != nil {
		return nil, err
	}
	out := []string{"login: token_type " + t.TokenType}
	status, body, err := c.get(t, c.issuer+"/protected")
	if err != nil {
		return nil, err
	}
	out = append(out, fmt.Sprintf("/protected: %d %s", status, body))
	if t, err = c.post("/refresh", map[string]string{"refresh_token": t.RefreshToken}); err != nil { // the same key, or 400
		return nil, err
	}
	out = append(out, "refresh: token_type "+t.TokenType)
	status, body, err = c.get(t, c.issuer+"/protected")
	if err != nil {
		return nil, err
	}
	return append(out, fmt.Sprintf("/protected: %d %s", status, body)), nil
}

func main() {
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "the issuer URL of `jwtauth serve`")
	user := flag.String("user", "alice", "username")
	password := flag.String("password", "", "password")
	flag.Parse()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second} // never http.DefaultClient's no timeout
	lines, err := run(&client{issuer: *issuer, key: key, http: hc}, *user, *password)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}
