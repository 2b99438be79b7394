// Package webui is the room server's web UI: server-rendered pages for
// the people who run partnerships — partnership managers, reviewers, DPOs
// and legal — who sign in with their organisation's identity provider
// (OpenID Connect, one provider per party).
//
// Every page is built by calling the JSON API in process as the signed-in
// user, with a token minted at sign-in: authorization, scoping to the
// rooms the user's party is a member of, and the audit log are exactly the
// API's. The browser holds only an opaque session cookie; the token stays
// in the server's memory and is revoked at sign-out. Templates, styles and
// charts (SVG drawn on the server) are embedded in the binary; pages load
// no script, font or image from anywhere.
package webui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Session settings.
const (
	sessionCookie = "cleanroom_session"
	loginCookie   = "cleanroom_login"
	// SessionTTL is how long a sign-in lasts.
	SessionTTL = 8 * time.Hour
	// loginTTL is how long a sign-in may take at the identity provider.
	loginTTL = 10 * time.Minute
)

// Accounts mints and revokes the tokens behind web sessions
// (httpapi.Server implements it).
type Accounts interface {
	SignIn(ctx context.Context, party, user, issuer, subject string, ttl time.Duration) (*httpapi.TokenCreated, error)
	SignOut(ctx context.Context, tokenID string) error
}

// Config configures the web UI.
type Config struct {
	// API is the JSON API's handler; pages call it in process.
	API http.Handler
	// Accounts mints a session's token at sign-in.
	Accounts Accounts
	// Providers are the parties' identity providers.
	Providers []Provider
	Logger    *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// UI serves the web pages under /ui/. It is safe for concurrent use.
type UI struct {
	cfg       Config
	pages     map[string]*template.Template
	providers map[string]*provider
	mux       *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session // by cookie value
	logins   map[string]*login   // by OAuth state
}

// session is a signed-in user.
type session struct {
	party, user string
	tokenID     string
	token       string
	csrf        string
	expires     time.Time
	// pasted marks a session opened with an API token the user holds:
	// signing out does not revoke it.
	pasted bool
}

// New returns the web UI.
func New(cfg Config) (*UI, error) {
	if cfg.API == nil || cfg.Accounts == nil {
		return nil, errors.New("webui: Config.API and Config.Accounts are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &UI{cfg: cfg, pages: map[string]*template.Template{}, providers: map[string]*provider{},
		sessions: map[string]*session{}, logins: map[string]*login{}}
	for _, p := range cfg.Providers {
		if err := p.validate(); err != nil {
			return nil, err
		}
		if _, dup := u.providers[p.Party]; dup {
			return nil, fmt.Errorf("webui: two identity providers for party %q", p.Party)
		}
		u.providers[p.Party] = &provider{Provider: p}
	}
	for _, name := range []string{"login", "error", "rooms", "room", "audit", "run", "query", "queries", "dashboard"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	static, _ := fs.Sub(staticFiles, "static")
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /ui/{$}", u.home)
	m.HandleFunc("GET /ui/login/{party}", u.startLogin)
	m.HandleFunc("GET /ui/callback", u.callback)
	m.HandleFunc("POST /ui/logout", u.logout)
	m.HandleFunc("POST /ui/token", u.tokenLogin)
	m.HandleFunc("GET /ui/rooms", u.signedIn(u.rooms))
	m.HandleFunc("GET /ui/rooms/{room}", u.signedIn(u.room))
	m.HandleFunc("GET /ui/rooms/{room}/audit", u.signedIn(u.audit))
	m.HandleFunc("GET /ui/rooms/{room}/run/{template}", u.signedIn(u.run))
	m.HandleFunc("POST /ui/rooms/{room}/run/{template}", u.signedIn(u.run))
	m.HandleFunc("GET /ui/rooms/{room}/queries", u.signedIn(u.queries))
	m.HandleFunc("GET /ui/dashboard", u.signedIn(u.dashboard))
	m.HandleFunc("POST /ui/rooms/{room}/approve", u.signedIn(u.approve))
	m.HandleFunc("GET /ui/report", u.signedIn(u.quarterly))
	m.HandleFunc("GET /ui/ledger.csv", u.signedIn(u.ledgerCSV))
	m.HandleFunc("GET /ui/rooms/{room}/queries/{query}", u.signedIn(u.query))
	m.HandleFunc("POST /ui/rooms/{room}/queries/{query}/review", u.signedIn(u.review))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, nil, http.StatusNotFound, cleanroom.Errorf(cleanroom.ENotFound, "no page %s", r.URL.Path))
	})
	u.mux = m
	return u, nil
}

// ServeHTTP serves the pages, with headers that keep them from being
// framed, cached or given scripts.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	u.mux.ServeHTTP(w, r)
}

// view is what a page template receives.
type view struct {
	Title string
	User  *viewUser
	CSRF  string
	Data  any
}

// viewUser is the signed-in user, as pages show it.
type viewUser struct{ Party, User string }

func (u *UI) render(w http.ResponseWriter, s *session, status int, page, title string, data any) {
	v := view{Title: title, Data: data}
	if s != nil {
		v.User, v.CSRF = &viewUser{s.party, s.user}, s.csrf
	}
	var b strings.Builder
	if err := u.pages[page].ExecuteTemplate(&b, "layout", v); err != nil {
		u.cfg.Logger.Error("render page", "page", page, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// fail shows an error page; an API refusal keeps its status and message.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, status int, err error) {
	msg, hint := cleanroom.ErrorMessage(err)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		status, msg, hint = apiErr.Status, apiErr.Message, apiErr.Hint
	}
	title := map[int]string{http.StatusForbidden: "Not allowed", http.StatusNotFound: "Not found", http.StatusUnauthorized: "Please sign in again"}[status]
	if title == "" {
		title = "Something went wrong"
	}
	if status >= 500 {
		u.cfg.Logger.Error("page failed", "path", r.URL.Path, "err", err)
		msg, hint = "The page could not be shown.", "Try again; if it persists, the server's log says why."
	}
	u.render(w, s, status, "error", title, struct{ Message, Hint string }{msg, hint})
}

// signedIn wraps a page that needs a session: without one, it sends the
// browser to the sign-in page.
func (u *UI) signedIn(page func(http.ResponseWriter, *http.Request, *session, *client.Client)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := u.session(r)
		if s == nil {
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		page(w, r, s, client.NewInProcess(u.cfg.API, s.token))
	}
}

// session returns the request's live session, or nil.
func (u *UI) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sessions[c.Value]
	if s == nil {
		return nil
	}
	if !u.cfg.Now().Before(s.expires) {
		delete(u.sessions, c.Value)
		return nil
	}
	return s
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	if u.session(r) != nil {
		http.Redirect(w, r, "/ui/rooms", http.StatusSeeOther)
		return
	}
	type entry struct{ Party, Name string }
	var ps []entry
	for _, p := range u.cfg.Providers {
		ps = append(ps, entry{p.Party, p.Name})
	}
	u.render(w, nil, http.StatusOK, "login", "Sign in", struct{ Providers []entry }{ps})
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	s := u.session(r)
	if s == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
		u.fail(w, r, s, http.StatusForbidden, cleanroom.Errorf(cleanroom.EForbidden, "the form is not from this session"))
		return
	}
	c, _ := r.Cookie(sessionCookie)
	u.mu.Lock()
	delete(u.sessions, c.Value)
	u.mu.Unlock()
	if !s.pasted {
		if err := u.cfg.Accounts.SignOut(r.Context(), s.tokenID); err != nil {
			u.cfg.Logger.Error("sign out", "party", s.party, "user", s.user, "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// newSession records a signed-in user and sets its cookie.
func (u *UI) newSession(w http.ResponseWriter, party, user string, tok *httpapi.TokenCreated) {
	id := rand.Text() + rand.Text()
	s := &session{party: party, user: user, tokenID: tok.ID, token: tok.Secret, csrf: rand.Text(), expires: tok.ExpiresAt}
	u.mu.Lock()
	for k, old := range u.sessions {
		if !u.cfg.Now().Before(old.expires) {
			delete(u.sessions, k)
		}
	}
	u.sessions[id] = s
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/ui/", Expires: s.expires,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// tokenLogin opens a session with an API token the user pastes: the
// platform admin's way in (it belongs to no party, so no party's identity
// provider signs it in), and a fallback for a party without one. The
// token is checked by the API; the session lasts as long as the token,
// at most SessionTTL, and signing out does not revoke it.
func (u *UI) tokenLogin(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	if !cleanroom.LooksLikeToken(token) {
		u.fail(w, r, nil, http.StatusUnauthorized, cleanroom.Errorf(cleanroom.EUnauthenticated, "that is not an API token").
			WithHint("API tokens start with the prefix `cleanroom token create` prints"))
		return
	}
	who, err := client.NewInProcess(u.cfg.API, token).Whoami(r.Context())
	if err != nil {
		u.fail(w, r, nil, http.StatusUnauthorized, err)
		return
	}
	expires := u.cfg.Now().Add(SessionTTL)
	if who.TokenExpiresAt.Before(expires) {
		expires = who.TokenExpiresAt
	}
	party, user := who.Party, who.User
	if who.Kind == cleanroom.Admin.String() {
		party, user = "platform", "admin"
	}
	u.newSession(w, party, user, &httpapi.TokenCreated{Token: cleanroom.Token{ID: who.TokenID, ExpiresAt: expires}, Secret: token})
	u.mu.Lock()
	for _, s := range u.sessions {
		if s.token == token {
			s.pasted = true
		}
	}
	u.mu.Unlock()
	http.Redirect(w, r, "/ui/rooms", http.StatusSeeOther)
}
