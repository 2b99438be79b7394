package client

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// FuzzResponse has the room answer with a fuzzed status, content type and
// body: for a party, what a room server answers is outside input. The
// client never panics; an answer with an error status is never taken for
// a result (an *APIError when it carries the API's error body, a
// *ConnError otherwise); a successful status with a body that is not JSON
// of the expected shape is a *ConnError.
func FuzzResponse(f *testing.F) {
	f.Add(uint16(200), "application/json", []byte(`{"name":"cleanroom","version":"1","server_id":"ab","signing_key":"AAAA"}`))
	f.Add(uint16(200), "application/json; charset=utf-8", []byte(`{"name":"r1","host":"neutral","parties":["bank"],"members":[{"party":"bank"}]}`))
	f.Add(uint16(200), "application/json", []byte(`{"id":"j1","tokens":["AAAA"],"manifest":{"statement":{},"signature":"%%"}}`))
	f.Add(uint16(200), "text/html", []byte(`<html>proxy</html>`))
	f.Add(uint16(403), "application/json", []byte(`{"code":"forbidden","message":"no","hint":"ask"}`))
	f.Add(uint16(502), "text/plain", []byte(`bad gateway`))
	f.Add(uint16(404), "application/json", []byte(`{"code":"","message":""}`))
	f.Add(uint16(201), "application/json", []byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, status uint16, contentType string, body []byte) {
		code := 200 + int(status)%400
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(code)
			w.Write(body)
		})
		c := NewInProcess(h, "token")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		calls := []func() (any, error){
			func() (any, error) { return c.ServerInfo(ctx) },
			func() (any, error) { return c.ShowRoom(ctx, "r1") },
			func() (any, error) { return c.GetJob(ctx, "r1", "j1") },
			func() (any, error) { return c.ListDUAs(ctx, "r1") },
			func() (any, error) { return c.AuditCheckpoint(ctx, "r1", 3) },
			func() (any, error) { return c.Ledger(ctx, cleanroom.Quarter{Year: 2026, Q: 4}) },
			func() (any, error) { return c.OpenedResult(ctx, "r1", "q1") },
		}
		for i, call := range calls {
			v, err := call()
			var apiErr *APIError
			var connErr *ConnError
			switch {
			case err == nil && code >= 300:
				t.Fatalf("call %d: status %d taken for a result: %+v", i, code, v)
			case err == nil:
			case errors.As(err, &apiErr):
				if code < 300 || apiErr.Status != code || apiErr.Message == "" {
					t.Fatalf("call %d: status %d gave %#v", i, code, apiErr)
				}
			case errors.As(err, &connErr):
			default:
				t.Fatalf("call %d: status %d gave an error of type %T: %v", i, code, err, err)
			}
		}
	})
}
