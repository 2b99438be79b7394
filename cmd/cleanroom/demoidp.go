package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/cleanroom-dev/cleanroom/internal/webui"
)

// demoIdentityProviders starts, on loopback, one OpenID Connect identity
// provider per demo party, which signs in that party's demo user without
// asking for a password: the demo's web UI runs the same sign-in as
// production, against providers that stand for the parties' own. stop
// shuts them down.
func demoIdentityProviders() (providers []webui.Provider, stop func(), err error) {
	var started []*mockoidc.MockOIDC
	stop = func() {
		for _, m := range started {
			m.Shutdown()
		}
	}
	for _, u := range demoUsers {
		m, err := mockoidc.NewServer(nil)
		if err != nil {
			stop()
			return nil, nil, err
		}
		user := &mockoidc.MockUser{Subject: u.party + "-" + u.user, PreferredUsername: u.user,
			Email: u.user + "@" + u.party + ".example", EmailVerified: true}
		m.AddMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, mockoidc.AuthorizationEndpoint) {
					m.QueueUser(user)
				}
				next.ServeHTTP(w, r)
			})
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, err
		}
		if err := m.Start(ln, nil); err != nil {
			stop()
			return nil, nil, err
		}
		started = append(started, m)
		c := m.Config()
		providers = append(providers, webui.Provider{Party: u.party, Name: fmt.Sprintf("%s (demo sign-in as %s)", u.display, u.user),
			Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret})
	}
	return providers, stop, nil
}
