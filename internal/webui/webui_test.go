package webui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

type noAccounts struct{}

func (noAccounts) SignIn(context.Context, string, string, string, string, time.Duration) (*httpapi.TokenCreated, error) {
	return nil, cleanroom.Errorf(cleanroom.EInternal, "not in this test")
}
func (noAccounts) SignOut(context.Context, string) error { return nil }

// TestReadProviders: the provider file must be private and well formed.
func TestReadProviders(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"providers": [{"party": "bank", "name": "Bank SSO", "issuer": "https://login.bank.example", "client_id": "c", "client_secret": "s"}]}`
	ps, err := ReadProviders(write("ok.json", good, 0o600))
	if err != nil || len(ps) != 1 || ps[0].UserClaim != "preferred_username" {
		t.Fatalf("good file: %+v, %v", ps, err)
	}
	for name, c := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"readable by others": {good, 0o644, "chmod 600"},
		"unknown field":      {`{"providers": [{"party": "bank", "issuer": "https://x", "client_id": "c", "colour": "red"}]}`, 0o600, "colour"},
		"bad issuer":         {`{"providers": [{"party": "bank", "issuer": "ftp://x", "client_id": "c"}]}`, 0o600, "issuer"},
		"bad claim":          {`{"providers": [{"party": "bank", "issuer": "https://x", "client_id": "c", "user_claim": "phone"}]}`, 0o600, "user_claim"},
		"no client":          {`{"providers": [{"party": "bank", "issuer": "https://x"}]}`, 0o600, "client_id"},
	} {
		if _, err := ReadProviders(write(strings.ReplaceAll(name, " ", "-")+".json", c.body, c.mode)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
}

// TestSignInRefusals: a callback that did not start in this browser, or
// whose sign-in is unknown, opens no session; pages without a session send
// the browser to sign in; headers forbid scripts and framing.
func TestSignInRefusals(t *testing.T) {
	u, err := New(Config{API: http.NotFoundHandler(), Accounts: noAccounts{},
		Providers: []Provider{{Party: "bank", Issuer: "https://login.bank.example", ClientID: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "https://room.example"+path, nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		u.ServeHTTP(w, r)
		return w
	}
	if w := get("/ui/callback?state=abc&code=x"); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "did not start in this browser") {
		t.Errorf("callback without the login cookie: %d %s", w.Code, w.Body)
	}
	if w := get("/ui/callback?state=abc&code=x", &http.Cookie{Name: loginCookie, Value: "abc"}); w.Code != http.StatusUnauthorized ||
		!strings.Contains(w.Body.String(), "already used") {
		t.Errorf("callback of an unknown sign-in: %d %s", w.Code, w.Body)
	}
	if w := get("/ui/rooms"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/" {
		t.Errorf("rooms without a session: %d %v", w.Code, w.Header())
	}
	if w := get("/ui/rooms", &http.Cookie{Name: sessionCookie, Value: "forged"}); w.Code != http.StatusSeeOther {
		t.Errorf("rooms with a forged session: %d", w.Code)
	}
	w := get("/ui/")
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(w.Body.String(), `href="/ui/login/bank"`) || strings.Contains(w.Body.String(), "<script") {
		t.Errorf("sign-in page:\n%s", w.Body)
	}
	if q := shiftQuarter(cleanroom.Quarter{Year: 2026, Q: 4}, 1); q.String() != "2027Q1" {
		t.Errorf("the quarter after 2026Q4 is %s", q)
	}
	if q := shiftQuarter(cleanroom.Quarter{Year: 2026, Q: 1}, -1); q.String() != "2025Q4" {
		t.Errorf("the quarter before 2026Q1 is %s", q)
	}
}
