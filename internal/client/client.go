// Package client is a typed client of the room server's HTTP JSON API
// (internal/httpapi): one method per route, returning the API's own
// request and response types.
//
// A refusal by the server comes back as an *APIError carrying the API's
// {code, message, hint}; a failure to reach the server or to trust its
// certificate comes back as a *ConnError naming the URL. Callers tell them
// apart with errors.As, and recognise certificate problems with
// errors.Is(err, ErrUntrustedCertificate).
//
//	c := client.New("https://127.0.0.1:8443", token, tlsConfig)
//	who, err := c.Whoami(ctx)
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// maxResponseBytes bounds how much of a response body the client reads.
const maxResponseBytes = 32 << 20

// Timeouts of the client's connections. A whole request, body included,
// must finish within requestTimeout; the context can shorten it.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 60 * time.Second
	requestTimeout        = 2 * time.Minute
	idleConnTimeout       = 90 * time.Second
)

// Client calls the API of one room server with one token. It is safe for
// concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client of the server at baseURL (for example
// "https://127.0.0.1:8443") that authenticates with token, which may be
// empty for the public routes. tlsConfig says which certificates to trust
// (nil: the system's roots); whatever it says, the client accepts nothing
// older than TLS 1.3.
func New(baseURL, token string, tlsConfig *tls.Config) *Client {
	var tc *tls.Config
	if tlsConfig != nil {
		tc = tlsConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.MinVersion < tls.VersionTLS13 {
		tc.MinVersion = tls.VersionTLS13
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       idleConnTimeout,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		hc: &http.Client{
			Transport: tr,
			Timeout:   requestTimeout,
			// The API never redirects; following one could send the
			// token somewhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// BaseURL returns the server URL the client calls.
func (c *Client) BaseURL() string { return c.base }

// APIError is the server's refusal of a request: the HTTP status and the
// API's error body. Message and Hint are meant for users as they are.
type APIError struct {
	Status  int
	Code    string
	Message string
	Hint    string
}

// Error returns the server's message, without the hint.
func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
}

// ErrUntrustedCertificate matches, with errors.Is, a *ConnError whose cause
// is that the server's TLS certificate could not be verified: it is
// self-signed and not passed as a CA, expired, or for another host name.
var ErrUntrustedCertificate = errors.New("the server's TLS certificate is not trusted")

// ConnError is a request that got no answer from the API: the server could
// not be reached, its certificate was not trusted, the connection broke, or
// what answered was not the API.
type ConnError struct {
	// URL is the URL of the request.
	URL string
	Err error
}

// Error names the URL and the cause.
func (e *ConnError) Error() string { return fmt.Sprintf("connect to %s: %v", e.URL, e.Err) }

// Unwrap returns the cause.
func (e *ConnError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUntrustedCertificate and the cause is a
// certificate that did not verify.
func (e *ConnError) Is(target error) bool {
	return target == ErrUntrustedCertificate && isCertificateError(e.Err)
}

func isCertificateError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body, contentType = b, "application/json"
	}
	return c.doBytes(ctx, method, path, contentType, body, out)
}

// doBytes sends a request with a body of the given content type ("" for
// none) and decodes a JSON answer into out (if not nil).
func (c *Client) doBytes(ctx context.Context, method, path, contentType string, in []byte, out any) error {
	u := c.base + path
	var body io.Reader
	if contentType != "" {
		body = bytes.NewReader(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return &ConnError{URL: u, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return &ConnError{URL: u, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return &ConnError{URL: u, Err: fmt.Errorf("read response: %w", err)}
	}
	if len(data) > maxResponseBytes {
		return &ConnError{URL: u, Err: fmt.Errorf("response is larger than %d bytes", maxResponseBytes)}
	}
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	if resp.StatusCode >= 300 {
		e := &APIError{Status: resp.StatusCode}
		var eb httpapi.ErrorBody
		if isJSON && json.Unmarshal(data, &eb) == nil && eb.Message != "" {
			e.Code, e.Message, e.Hint = eb.Code, eb.Message, eb.Hint
			return e
		}
		// Something other than the API answered: a proxy, another
		// server on the port.
		return &ConnError{URL: u, Err: fmt.Errorf("not an answer of the Cleanroom API: status %s", resp.Status)}
	}
	if out == nil {
		return nil
	}
	if !isJSON {
		return &ConnError{URL: u, Err: fmt.Errorf("not an answer of the Cleanroom API: content type %q", resp.Header.Get("Content-Type"))}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &ConnError{URL: u, Err: fmt.Errorf("decode response: %w", err)}
	}
	return nil
}

func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	v := new(T)
	if err := c.do(ctx, http.MethodGet, path, nil, v); err != nil {
		return nil, err
	}
	return v, nil
}

func send[T any](ctx context.Context, c *Client, method, path string, in any) (*T, error) {
	v := new(T)
	if err := c.do(ctx, method, path, in, v); err != nil {
		return nil, err
	}
	return v, nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// ServerInfo returns the server's public identity (GET /api/v1/server). It
// needs no token.
func (c *Client) ServerInfo(ctx context.Context) (*httpapi.ServerInfo, error) {
	return get[httpapi.ServerInfo](ctx, c, "/api/v1/server")
}

// Whoami describes the caller (GET /api/v1/whoami).
func (c *Client) Whoami(ctx context.Context) (*httpapi.Whoami, error) {
	return get[httpapi.Whoami](ctx, c, "/api/v1/whoami")
}

// CreateParty registers a party (POST /api/v1/parties; admin only).
func (c *Client) CreateParty(ctx context.Context, req httpapi.CreatePartyRequest) (*httpapi.PartyBody, error) {
	return send[httpapi.PartyBody](ctx, c, http.MethodPost, "/api/v1/parties", req)
}

// ListParties lists the parties the caller may see (GET /api/v1/parties).
func (c *Client) ListParties(ctx context.Context) (*httpapi.PartyList, error) {
	return get[httpapi.PartyList](ctx, c, "/api/v1/parties")
}

// ShowParty returns one party with its rooms (GET /api/v1/parties/{party}).
func (c *Client) ShowParty(ctx context.Context, name string) (*httpapi.PartyBody, error) {
	return get[httpapi.PartyBody](ctx, c, "/api/v1/parties/"+seg(name))
}

// SubmitGrant sends a grant statement signed by party
// (POST /api/v1/parties/{party}/grants). The signature is the authority:
// the server checks it against the party's registered key.
func (c *Client) SubmitGrant(ctx context.Context, party string, env statement.Envelope) (*httpapi.GrantBody, error) {
	return send[httpapi.GrantBody](ctx, c, http.MethodPost, "/api/v1/parties/"+seg(party)+"/grants", env)
}

// ListGrants lists the party's grant statements with their status now
// (GET /api/v1/parties/{party}/grants).
func (c *Client) ListGrants(ctx context.Context, party string) (*httpapi.GrantList, error) {
	return get[httpapi.GrantList](ctx, c, "/api/v1/parties/"+seg(party)+"/grants")
}

// CreateToken mints a token for a user of a party (POST /api/v1/tokens).
// The result carries the secret, which the server never shows again.
func (c *Client) CreateToken(ctx context.Context, req httpapi.CreateTokenRequest) (*httpapi.TokenCreated, error) {
	return send[httpapi.TokenCreated](ctx, c, http.MethodPost, "/api/v1/tokens", req)
}

// ListTokens lists the caller's tokens, or every token for the admin
// (GET /api/v1/tokens).
func (c *Client) ListTokens(ctx context.Context) (*httpapi.TokenList, error) {
	return get[httpapi.TokenList](ctx, c, "/api/v1/tokens")
}

// RevokeToken revokes a token by ID (DELETE /api/v1/tokens/{id}) and
// returns its record.
func (c *Client) RevokeToken(ctx context.Context, id string) (*cleanroom.Token, error) {
	return send[cleanroom.Token](ctx, c, http.MethodDelete, "/api/v1/tokens/"+seg(id), nil)
}

// CreateRoom creates a room (POST /api/v1/rooms; admin only).
func (c *Client) CreateRoom(ctx context.Context, req httpapi.CreateRoomRequest) (*cleanroom.Room, error) {
	return send[cleanroom.Room](ctx, c, http.MethodPost, "/api/v1/rooms", req)
}

// ListRooms lists the rooms the caller may see (GET /api/v1/rooms).
func (c *Client) ListRooms(ctx context.Context) (*httpapi.RoomList, error) {
	return get[httpapi.RoomList](ctx, c, "/api/v1/rooms")
}

// ShowRoom returns a room with its members (GET /api/v1/rooms/{room}).
func (c *Client) ShowRoom(ctx context.Context, name string) (*cleanroom.Room, error) {
	return get[cleanroom.Room](ctx, c, "/api/v1/rooms/"+seg(name))
}

// Invite invites a party to a room (POST /api/v1/rooms/{room}/parties;
// admin only) and returns the room.
func (c *Client) Invite(ctx context.Context, room, party string) (*cleanroom.Room, error) {
	return send[cleanroom.Room](ctx, c, http.MethodPost, "/api/v1/rooms/"+seg(room)+"/parties", httpapi.InviteRequest{Party: party})
}

// AuditPage selects a page of audit entries: those after sequence number
// After (0: from the start), at most Limit of them (0: the server's
// default, 1000).
type AuditPage struct {
	After int64
	Limit int
}

func (p AuditPage) query() string {
	q := url.Values{}
	if p.After > 0 {
		q.Set("after", strconv.FormatInt(p.After, 10))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// RoomAudit returns a page of a room's audit log
// (GET /api/v1/rooms/{room}/audit; members only).
func (c *Client) RoomAudit(ctx context.Context, room string, page AuditPage) (*httpapi.AuditList, error) {
	return get[httpapi.AuditList](ctx, c, "/api/v1/rooms/"+seg(room)+"/audit"+page.query())
}

// PlatformAudit returns a page of the platform's audit log, the entries
// about no room (GET /api/v1/audit; admin only).
func (c *Client) PlatformAudit(ctx context.Context, page AuditPage) (*httpapi.AuditList, error) {
	return get[httpapi.AuditList](ctx, c, "/api/v1/audit"+page.query())
}

// WithToken returns a client of the same server and TLS settings that
// authenticates with token.
func (c *Client) WithToken(token string) *Client {
	d := *c
	d.token = token
	return &d
}
