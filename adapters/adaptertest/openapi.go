package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	spec "github.com/jwtauth/jwtauth"
	"github.com/jwtauth/jwtauth/jwtauth"
)

// contract is openapi.yaml (the module's OpenAPI 3.1 description, embedded
// by the root package) ready to check traffic against, with kin-openapi's
// openapi3filter: ValidateRequest for requests (parameters, body, security)
// and ValidateResponse for answers (status, headers, body), plus what
// ValidateResponse leaves out (see check).
type contract struct {
	doc    *openapi3.T
	router routers.Router
	// Synthetic operations for requests no path item describes (404), or
	// with a method their path item lacks (405), and for an application's
	// route behind the adapters' middleware (RunAuthorization).
	notFound, methodNotAllowed, protectedApp *routers.Route
	// cookieApp is protectedApp for a request whose access token comes
	// from a cookie (authn.CookieSource): its 403 is CSRFCheckFailed.
	cookieApp *routers.Route
}

// loadContract parses and validates openapi.yaml once per process.
var loadContract = sync.OnceValues(func() (*contract, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	// The paths are relative to the mount prefix, which the caller strips
	// (see check): route on a copy without the {issuer} server.
	bare := *doc
	bare.Servers = nil
	router, err := legacy.NewRouter(&bare)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	component := func(names ...string) (*routers.Route, error) {
		op := &openapi3.Operation{Responses: openapi3.NewResponses()}
		for _, name := range names {
			r := doc.Components.Responses[name]
			if r == nil {
				return nil, fmt.Errorf("openapi.yaml: no components/responses/%s", name)
			}
			var status int
			switch name {
			case "NotFound":
				status = http.StatusNotFound
			case "MethodNotAllowed":
				status = http.StatusMethodNotAllowed
			case "Unauthorized":
				status = http.StatusUnauthorized
			case "InsufficientScope", "CSRFCheckFailed":
				status = http.StatusForbidden
			case "Unavailable":
				status = http.StatusServiceUnavailable
			}
			op.Responses.Set(fmt.Sprint(status), r)
		}
		return &routers.Route{Spec: &bare, Path: "#/components/responses", Method: "*", Operation: op}, nil
	}
	c := &contract{doc: doc, router: router}
	if c.notFound, err = component("NotFound"); err != nil {
		return nil, err
	}
	if c.methodNotAllowed, err = component("MethodNotAllowed"); err != nil {
		return nil, err
	}
	if c.protectedApp, err = component("Unauthorized", "InsufficientScope", "Unavailable"); err != nil {
		return nil, err
	}
	if c.cookieApp, err = component("Unauthorized", "CSRFCheckFailed", "Unavailable"); err != nil {
		return nil, err
	}
	return c, nil
})

// exchange is one request as the client sent it and the answer it got.
type exchange struct {
	req     *http.Request // its body is reqBody
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

// checkMode says which part of the description an exchange is held to.
type checkMode int

const (
	// endpoints: the request is to one of jwtauth's endpoints, mounted
	// under prefix; anything else must get the NotFound answer.
	endpoints checkMode = iota
	// application: the request is to an application's own route behind
	// the adapters' middleware; its 401, 403 and 503 must be the
	// Unauthorized, InsufficientScope and Unavailable answers, the rest is
	// the application's.
	application
	// mounted: an application with a jwtauth.Service mounted under
	// prefix; requests to the service's routes are held to the description
	// as in endpoints, the others (the application's own, and the
	// described paths the service does not mount) are not checked.
	mounted
	// browser: cookie mode (RunCookies). As endpoints, but for /protected,
	// the application's route there: a request to it without
	// Authorization or x-access-token takes its access token from the
	// application's cookie (its 401, 403 and 503 must be Unauthorized,
	// CSRFCheckFailed and Unavailable), and one with another method (the
	// application's POST) is held to what application holds it to.
	browser
)

// verdict is what openapi.yaml says of a request.
type verdict int

const (
	accepted  verdict = iota // an operation describes it and accepts it
	refused                  // an operation describes it and refuses it
	unrouted                 // no operation: a path or method it lacks
	appRoute                 // an application's route (mode application)
	unchecked                // the application's own (mode mounted)
)

// check returns what the description says of ex's request, and where ex
// departs from openapi.yaml, or nil.
//
// A request the description refuses (a missing or malformed body member, a
// wrong Content-Type, no credentials for a secured operation) must be
// answered with a 4xx status the operation describes, and 401 when only the
// security requirement failed: the table sends such requests on purpose,
// and the description must not call a request bad that the server serves.
// Every answer must have a status the operation describes, the headers it
// marks required (with values matching their schemas) and a body matching
// its schema, or no body when it describes none. openapi3filter does not
// check 304 answers or answers to HEAD at all: here a 304 is checked for
// its required headers, and a HEAD answer as the GET answer without its
// body, which a server never sends.
func (c *contract) check(ctx context.Context, mode checkMode, prefix string, ex *exchange) (verdict, error) {
	return c.checkMounted(ctx, mode, prefix, nil, ex)
}

// checkMounted is check for mode mounted, where served holds the paths
// (relative to prefix) that the service mounts.
func (c *contract) checkMounted(ctx context.Context, mode checkMode, prefix string, served map[string]bool, ex *exchange) (verdict, error) {
	req := ex.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
	req.ContentLength = int64(len(ex.reqBody))

	var (
		route  *routers.Route
		params map[string]string
		v      = accepted
	)
	if mode == browser && req.URL.Path == "/protected" {
		switch {
		case req.Header.Get("Authorization") == "" && req.Header.Get("X-Access-Token") == "":
			mode, route = application, c.cookieApp
		case req.Method != http.MethodGet && req.Method != http.MethodHead:
			mode, route = application, c.protectedApp
		}
	}
	if mode == browser && req.URL.Path == "/account" && req.Header.Get("Authorization") == "" &&
		req.Header.Get("X-Access-Token") == "" && req.Header.Get("Cookie") != "" {
		// DELETE /account with the token in the application's access
		// cookie (CookieMode.AccessCookie), whose name the description
		// cannot know: the cookie stands for the bearer credentials.
		req.Header.Set("Authorization", "Bearer from-the-access-cookie")
	}
	if mode == application {
		if route == nil {
			route = c.protectedApp
		}
		v = appRoute
		if ex.status/100 == 2 {
			return v, nil // the application's own answer
		}
	} else {
		rest, ok := strings.CutPrefix(req.URL.Path, prefix)
		if ok && rest != "" && rest[0] != '/' {
			ok = false // "/authx" is not under "/auth"
		}
		if mode == mounted && (!ok || !served[rest]) {
			return unchecked, nil
		}
		if !ok || rest == "" {
			// Not under the prefix (or the prefix itself): a path no
			// operation can match, so the answer must be NotFound.
			rest = "/" + req.URL.Path
		}
		req.URL.Path, req.URL.RawPath = rest, ""
		var ferr error
		route, params, ferr = c.router.FindRoute(req)
		var re *routers.RouteError
		switch {
		case ferr == nil && !strings.Contains(route.Path, "{") && route.Path != rest:
			// The legacy router forgives a trailing slash; the adapters
			// do not ("/login/" is 404), and neither does the description.
			route, v = c.notFound, unrouted
		case ferr == nil:
		case errors.As(ferr, &re) && re.Reason == routers.ErrMethodNotAllowed.Error():
			route, v = c.methodNotAllowed, unrouted
		case errors.As(ferr, &re) && re.Reason == routers.ErrPathNotFound.Error():
			route, v = c.notFound, unrouted
		default:
			return unrouted, fmt.Errorf("routing: %w", ferr)
		}
	}

	if v == accepted {
		reqErr := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: authenticate},
		})
		req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
		if reqErr != nil {
			v = refused
			var se *openapi3filter.SecurityRequirementsError
			switch {
			case errors.As(reqErr, &se) && ex.status != http.StatusUnauthorized:
				return v, fmt.Errorf("the request lacks the credentials the operation requires (%v), yet the answer is %d, not 401", reqErr, ex.status)
			case ex.status/100 != 4:
				return v, fmt.Errorf("openapi.yaml refuses the request (%v), yet the server answered %d: the description is stricter than the code", reqErr, ex.status)
			}
		}
	}

	where := route.Method + " " + route.Path
	if v == unrouted {
		where = "a path or method openapi.yaml does not describe"
	}
	resp := route.Operation.Responses.Status(ex.status)
	if resp == nil {
		return v, fmt.Errorf("status %d is not described for %s", ex.status, where)
	}
	switch {
	case ex.status == http.StatusNotModified:
		if err := checkHeaders(resp.Value, ex.header); err != nil {
			return v, fmt.Errorf("%d of %s: %w", ex.status, where, err)
		}
	default:
		vreq := req
		opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: authenticate}
		if req.Method == http.MethodHead {
			vreq = req.Clone(ctx)
			vreq.Method = http.MethodGet // else ValidateResponse checks nothing
			opts.ExcludeResponseBody = true
		}
		err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
			Status:                 ex.status,
			Header:                 ex.header,
			Body:                   io.NopCloser(bytes.NewReader(ex.body)),
			Options:                opts,
		})
		if err != nil {
			return v, fmt.Errorf("%d of %s: %w", ex.status, where, err)
		}
		// openapi3filter checks the first value of a header alone; a
		// response sets one Set-Cookie per cookie.
		if err := checkEveryValue(resp.Value, ex.header); err != nil {
			return v, fmt.Errorf("%d of %s: %w", ex.status, where, err)
		}
	}
	if v != unrouted && ex.status == http.StatusOK && (route.Path == "/login" || route.Path == "/refresh") {
		if err := checkRefreshCarried(ex); err != nil {
			return v, fmt.Errorf("%d of %s: %w", ex.status, where, err)
		}
	}
	if len(resp.Value.Content) == 0 && len(ex.body) > 0 {
		return v, fmt.Errorf("%d of %s: openapi.yaml describes no body, the answer has %d bytes", ex.status, where, len(ex.body))
	}
	return v, nil
}

// checkHeaders checks the headers of a 304, which openapi3filter skips:
// every required header present, every documented one matching its
// (string) schema.
func checkHeaders(resp *openapi3.Response, h http.Header) error {
	for name, ref := range resp.Headers {
		hd := ref.Value
		v, ok := h[http.CanonicalHeaderKey(name)]
		if !ok {
			if hd.Required {
				return fmt.Errorf("required header %s is missing", name)
			}
			continue
		}
		if hd.Schema == nil || len(v) != 1 {
			continue
		}
		if err := hd.Schema.Value.VisitJSON(v[0], openapi3.EnableJSONSchema2020()); err != nil {
			return fmt.Errorf("header %s: %w", name, err)
		}
	}
	return nil
}

// checkRefreshCarried checks what openapi.yaml says in words and JSON
// Schema cannot tie together (a body and a header): a new session's refresh
// token travels in exactly one place, the body's refresh_token (JSON
// mode) or the jwtauth_refresh cookies (cookie mode), never both (a page's
// scripts would read it) and never neither (the services the tables run,
// like jwtauth serve and a jwtauth.Service, always issue refresh tokens).
func checkRefreshCarried(ex *exchange) error {
	var body struct {
		RefreshToken *string `json:"refresh_token"`
	}
	if err := json.Unmarshal(ex.body, &body); err != nil {
		return nil // ValidateResponse has judged the body
	}
	var cookies []string
	for _, c := range (&http.Response{Header: ex.header}).Cookies() {
		if c.Name == jwtauth.RefreshCookieName && c.Value != "" {
			cookies = append(cookies, c.Value)
		}
	}
	switch {
	case body.RefreshToken != nil && len(cookies) > 0:
		return fmt.Errorf("the refresh token is both in the body and in a %s cookie (cookie mode keeps it from the page's scripts)", jwtauth.RefreshCookieName)
	case body.RefreshToken == nil && len(cookies) == 0:
		return fmt.Errorf("no refresh token: neither refresh_token in the body nor a %s cookie (cookie mode)", jwtauth.RefreshCookieName)
	case len(cookies) > 0 && (len(cookies) != 2 || cookies[0] != cookies[1]):
		return fmt.Errorf("cookie mode sets the %s cookie twice with one value (the refresh and the logout path), not %q", jwtauth.RefreshCookieName, cookies)
	}
	return nil
}

// checkEveryValue checks each value of a documented header that an
// answer repeats (Set-Cookie: one header per cookie) against the header's
// schema: openapi3filter's ValidateResponse decodes only the first.
func checkEveryValue(resp *openapi3.Response, h http.Header) error {
	for name, ref := range resp.Headers {
		hd := ref.Value
		vals := h[http.CanonicalHeaderKey(name)]
		if hd.Schema == nil || hd.Schema.Value == nil || len(vals) < 2 {
			continue
		}
		for i, v := range vals {
			if err := hd.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				return fmt.Errorf("header %s, value %d of %d (%q): %w", name, i+1, len(vals), v, err)
			}
		}
	}
	return nil
}

// authenticate is the openapi3filter check of a security requirement: the
// credentials are there in the form the scheme names (whether they are
// valid is the server's business, answered with 401).
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	s := in.SecurityScheme
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		scheme, cred, _ := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
		if strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(cred) != "" {
			return nil
		}
		return errors.New("no Authorization: Bearer credentials")
	case s.Type == "http" && strings.EqualFold(s.Scheme, "DPoP"):
		scheme, cred, _ := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
		if strings.EqualFold(scheme, "DPoP") && strings.TrimSpace(cred) != "" {
			return nil
		}
		return errors.New("no Authorization: DPoP credentials")
	case s.Type == "apiKey" && s.In == "header":
		if strings.TrimSpace(h.Get(s.Name)) != "" {
			return nil
		}
		return fmt.Errorf("no %s header", s.Name)
	case s.Type == "apiKey" && s.In == "cookie":
		if c, err := in.RequestValidationInput.Request.Cookie(s.Name); err == nil && c.Value != "" {
			return nil
		}
		return fmt.Errorf("no %s cookie", s.Name)
	}
	return fmt.Errorf("security scheme %s of type %s is not checked here", in.SecuritySchemeName, s.Type)
}

// rowKey carries the reporter of the table row that sent a request, so
// that a departure from openapi.yaml is reported against that row.
type rowKey struct{}

// reporter is the part of testing.TB a validating handler reports with.
type reporter interface {
	Name() string
	Errorf(format string, args ...any)
}

// withRow returns r for the row t.
func withRow(r *http.Request, t reporter) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), rowKey{}, t))
}

// traffic counts what validating handlers checked.
type traffic struct {
	requests  atomic.Int64 // requests checked against an operation
	refused   atomic.Int64 // of them, the ones the description refuses (answered 4xx)
	unrouted  atomic.Int64 // requests to a path or method it lacks (answered 404 or 405)
	responses atomic.Int64 // answers checked
}

func (n *traffic) String() string {
	return fmt.Sprintf("%d requests (%d of them refused by the description, each answered 4xx; %d more to paths or methods it lacks, answered 404/405) and %d responses",
		n.requests.Load(), n.refused.Load(), n.unrouted.Load(), n.responses.Load())
}

// validated returns next behind a check of every request and answer
// against openapi.yaml (contract.check), reported with t.Errorf naming the
// row (see withRow; t when the request names none). Nothing reaches next
// around it: a row that calls the handler directly is checked too.
func validated(t *testing.T, next http.Handler, mode checkMode, prefix string, n *traffic) http.Handler {
	t.Helper()
	return validatedMount(t, next, mode, prefix, nil, n)
}

// validatedMount is validated for mode mounted: served holds the paths of
// the mounted service's routes, relative to prefix.
func validatedMount(t *testing.T, next http.Handler, mode checkMode, prefix string, served map[string]bool, n *traffic) http.Handler {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var row reporter = t
		if rt, ok := r.Context().Value(rowKey{}).(reporter); ok {
			row = rt
		}
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				row.Errorf("openapi: reading the request body of %s %s: %v", r.Method, r.URL, err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sent := r.Clone(r.Context()) // as the client sent it, whatever next does to r
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		out := rec.Body.Bytes()

		v, err := c.checkMounted(r.Context(), mode, prefix, served, &exchange{req: sent, reqBody: body, status: res.StatusCode, header: res.Header, body: out})
		switch v {
		case refused:
			n.refused.Add(1)
			fallthrough
		case accepted:
			n.requests.Add(1)
		case unrouted:
			n.unrouted.Add(1)
		}
		if v != unchecked && (v != appRoute || res.StatusCode/100 != 2) {
			n.responses.Add(1)
		}
		if err != nil {
			row.Errorf("openapi.yaml does not describe what row %s saw: %s %s answered %d %s\n%v",
				row.Name(), r.Method, r.URL, res.StatusCode, truncate(out), err)
		}

		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(out)
	})
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
