// Command notatest starts a jwtauthtest.Server in an ordinary program, as
// production code that imported the package would: TestNewServerRefusesOutsideTests
// builds and runs it and expects NewServer to refuse.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/jwtauth/jwtauth/jwtauthtest"
)

func main() {
	defer func() {
		r := recover()
		if err, ok := r.(error); ok && errors.Is(err, jwtauthtest.ErrNotATest) {
			fmt.Println("refused:", err)
			os.Exit(3)
		}
		if r != nil {
			panic(r)
		}
	}()
	srv := jwtauthtest.NewServer(nil)
	defer srv.Close()
	fmt.Println("serving", srv.URL, srv.Mint(jwtauthtest.Token{Subject: "alice", Roles: []string{"admin"}}) != "")
}
