package jwtauth_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/jwtauth/jwtauth/adapters/memory"
	"github.com/jwtauth/jwtauth/jwtauth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// An application that embeds the service passes its own registry in
// Config.Metrics and serves it where its scraper, and nobody else, reaches
// it (an internal listener).
func ExampleConfig_metrics() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	svc, err := jwtauth.New(ctx, jwtauth.Config{
		Store: memory.New(), Issuer: "https://auth.example.com",
		Metrics: reg, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	internal := http.NewServeMux()
	internal.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	if err := svc.Accounts().Register(ctx, "alice", "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	if _, err := svc.Accounts().Login(ctx, "alice", "wrong password"); err == nil {
		log.Fatal("a wrong password logged in")
	}

	w := httptest.NewRecorder()
	internal.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "jwtauth_account_operations_total") && !strings.HasSuffix(line, " 0") {
			fmt.Println(line)
		}
	}
	// Output:
	// jwtauth_account_operations_total{operation="login",result="invalid_credentials"} 1
	// jwtauth_account_operations_total{operation="register",result="ok"} 1
}
