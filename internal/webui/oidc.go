package webui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

// Provider is one party's OpenID Connect identity provider. Its users
// sign in as users of that party only; what they may do is what the party
// granted them with signed grants.
type Provider struct {
	// Party is the party whose users this provider authenticates.
	Party string `json:"party"`
	// Name is shown on the sign-in button ("Bank SSO").
	Name         string `json:"name"`
	Issuer       string `json:"issuer"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// UserClaim is the ID token claim that names the user, as the party's
	// grants name it: "preferred_username" (the default), "email" (the
	// part before @) or "sub".
	UserClaim string `json:"user_claim,omitempty"`
}

func (p *Provider) validate() error {
	if err := cleanroom.ValidateName("party name", p.Party); err != nil {
		return fmt.Errorf("identity provider: %w", err)
	}
	if p.Name == "" {
		p.Name = p.Party
	}
	if u, err := url.Parse(p.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("identity provider of party %q: issuer %q is not an http(s) URL", p.Party, p.Issuer)
	}
	if p.ClientID == "" {
		return fmt.Errorf("identity provider of party %q: client_id is required", p.Party)
	}
	switch p.UserClaim {
	case "":
		p.UserClaim = "preferred_username"
	case "preferred_username", "email", "sub":
	default:
		return fmt.Errorf("identity provider of party %q: user_claim %q: want preferred_username, email or sub", p.Party, p.UserClaim)
	}
	return nil
}

// ProviderFile is the file `cleanroom serve --oidc` reads.
type ProviderFile struct {
	Providers []Provider `json:"providers"`
}

// ReadProviders reads a provider file (JSON). It holds client secrets, so
// a file others can read is refused.
func ReadProviders(path string) ([]Provider, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read the client secrets; chmod 600 it", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f ProviderFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range f.Providers {
		if err := f.Providers[i].validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return f.Providers, nil
}

// provider is a configured provider, discovered on first use (an identity
// provider that is down does not stop the server).
type provider struct {
	Provider
	mu       sync.Mutex
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func (p *provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, p.verifier, nil
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, http.DefaultClient), p.Issuer)
	if err != nil {
		return nil, nil, err
	}
	p.oidc, p.verifier = op, op.Verifier(&oidc.Config{ClientID: p.ClientID})
	return p.oidc, p.verifier, nil
}

func (p *provider) oauth(op *oidc.Provider, r *http.Request) *oauth2.Config {
	return &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: "https://" + r.Host + "/ui/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
}

// login is a sign-in under way at a party's identity provider.
type login struct {
	party, nonce, verifier string
	expires                time.Time
	// intent, when set, makes this the confirmation of an approval by the
	// signed-in user rather than a sign-in.
	intent *httpapi.ApprovalIntent
}

// startLogin sends the browser to the party's identity provider, with a
// fresh state (also set as a cookie, binding the sign-in to this
// browser), nonce and PKCE verifier.
func (u *UI) startLogin(w http.ResponseWriter, r *http.Request) {
	p := u.providers[r.PathValue("party")]
	if p == nil {
		u.fail(w, r, nil, http.StatusNotFound, cleanroom.Errorf(cleanroom.ENotFound, "no identity provider is configured for party %q", r.PathValue("party")))
		return
	}
	op, _, err := p.discover(r.Context())
	if err != nil {
		u.cfg.Logger.Warn("identity provider discovery", "party", p.Party, "issuer", p.Issuer, "err", err)
		u.fail(w, r, nil, http.StatusBadGateway, cleanroom.Errorf(cleanroom.EInvalid, "the identity provider of %s does not answer", p.Name).
			WithHint("try again later, or ask your administrator"))
		return
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	u.mu.Lock()
	now := u.cfg.Now()
	for k, l := range u.logins {
		if !now.Before(l.expires) {
			delete(u.logins, k)
		}
	}
	u.logins[state] = &login{party: p.Party, nonce: nonce, verifier: verifier, expires: now.Add(loginTTL)}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/ui/", MaxAge: int(loginTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, p.oauth(op, r).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback completes a sign-in: the state matches this browser's, the
// code is exchanged with the PKCE verifier, the ID token verifies with the
// provider's keys for this client and carries the nonce, and its user
// claim names a user of the provider's party.
func (u *UI) callback(w http.ResponseWriter, r *http.Request) {
	refuse := func(format string, args ...any) {
		u.fail(w, r, nil, http.StatusUnauthorized, cleanroom.Errorf(cleanroom.EUnauthenticated, format, args...).WithHint("sign in again from the start page"))
	}
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(loginCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		refuse("the sign-in did not start in this browser")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/ui/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	u.mu.Lock()
	l := u.logins[state]
	delete(u.logins, state)
	u.mu.Unlock()
	if l == nil || !u.cfg.Now().Before(l.expires) {
		refuse("the sign-in took too long or was already used")
		return
	}
	if e := q.Get("error"); e != "" {
		refuse("the identity provider refused the sign-in: %s", e)
		return
	}
	p := u.providers[l.party]
	op, verifier, err := p.discover(r.Context())
	if err != nil {
		refuse("the identity provider of %s does not answer", p.Name)
		return
	}
	tok, err := p.oauth(op, r).Exchange(oidc.ClientContext(r.Context(), http.DefaultClient), q.Get("code"), oauth2.VerifierOption(l.verifier))
	if err != nil {
		u.cfg.Logger.Warn("sign-in code exchange", "party", p.Party, "err", err)
		refuse("the identity provider did not confirm the sign-in")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(r.Context(), raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.nonce)) != 1 {
		u.cfg.Logger.Warn("sign-in ID token", "party", p.Party, "err", err)
		refuse("the identity provider's ID token does not verify")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse("the ID token's claims cannot be read")
		return
	}
	name, _ := claims[p.UserClaim].(string)
	if p.UserClaim == "email" {
		name, _, _ = strings.Cut(name, "@")
	}
	name = strings.ToLower(name)
	if err := cleanroom.ValidateName("user name", name); err != nil {
		refuse("the identity provider names you %q, which is not a user name of party %s (%v)", name, p.Party, err)
		return
	}
	if l.intent != nil {
		// An approval: the same user as the session's confirmed it at its
		// party's provider; the party's agent checks the token and signs.
		s := u.session(r)
		if s == nil || s.party != p.Party || s.user != name {
			refuse("the approval was confirmed by %q, not by the signed-in user", name)
			return
		}
		c := client.NewInProcess(u.cfg.API, s.token)
		if _, err := c.Approve(r.Context(), l.intent.Room, httpapi.ApprovalRequest{Intent: *l.intent, IDToken: raw}); err != nil {
			u.fail(w, r, s, 0, err)
			return
		}
		http.Redirect(w, r, "/ui/rooms/"+l.intent.Room, http.StatusSeeOther)
		return
	}
	created, err := u.cfg.Accounts.SignIn(r.Context(), p.Party, name, p.Issuer, idt.Subject, SessionTTL)
	if err != nil {
		u.fail(w, r, nil, http.StatusInternalServerError, err)
		return
	}
	u.newSession(w, p.Party, name, created)
	http.Redirect(w, r, "/ui/rooms", http.StatusSeeOther)
}

// approve starts the confirmation of an approval the signed-in user makes
// on a room's page: an agreement version to sign, or a template version
// to approve, for its party. The user signs in again at its party's
// provider (prompt=login) with the intent's digest as the nonce; the
// callback hands the intent and the ID token to the party's agent.
func (u *UI) approve(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	if err := checkCSRF(r, s); err != nil {
		u.fail(w, r, s, http.StatusForbidden, err)
		return
	}
	p := u.providers[s.party]
	if p == nil {
		u.fail(w, r, s, http.StatusNotFound, cleanroom.Errorf(cleanroom.ENotFound, "no identity provider is configured for party %q", s.party))
		return
	}
	info, err := c.ServerInfo(r.Context())
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	in := httpapi.NewApprovalIntent(info.ServerID, r.PathValue("room"), s.party, s.user, r.PostFormValue("kind"), r.PostFormValue("template"),
		version, r.PostFormValue("digest"), u.cfg.Now())
	if err := in.Validate(); err != nil {
		u.fail(w, r, s, http.StatusBadRequest, err)
		return
	}
	op, _, err := p.discover(r.Context())
	if err != nil {
		u.fail(w, r, s, http.StatusBadGateway, cleanroom.Errorf(cleanroom.EInvalid, "the identity provider of %s does not answer", p.Name))
		return
	}
	nonce, err := in.Nonce()
	if err != nil {
		u.fail(w, r, s, http.StatusInternalServerError, err)
		return
	}
	state, verifier := rand.Text(), oauth2.GenerateVerifier()
	u.mu.Lock()
	u.logins[state] = &login{party: p.Party, nonce: nonce, verifier: verifier, expires: u.cfg.Now().Add(loginTTL), intent: &in}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/ui/", MaxAge: int(loginTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, p.oauth(op, r).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")), http.StatusFound)
}
