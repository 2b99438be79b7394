package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// serverProcess is `cleanroom serve` in a process of its own, so a test
// can kill it.
type serverProcess struct {
	cmd *exec.Cmd
	url string
}

func startServerProcess(t *testing.T, dir string) *serverProcess {
	t.Helper()
	cmd := exec.Command("cleanroom", "serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlRE := regexp.MustCompile(`serving (https://\S+) `)
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if m := urlRE.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		p := &serverProcess{cmd: cmd, url: u}
		t.Cleanup(func() { p.kill() })
		return p
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("server process did not start")
	}
	return nil
}

// kill ends the process with SIGKILL: no shutdown, no clean-up.
func (p *serverProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// TestKillMidUpload kills the uploading side, and the server, at chosen
// points of an upload, and checks that no partial version ever appears and
// that the upload then succeeds.
func TestKillMidUpload(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := initDataDir(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerProcess(t, dir)
	admin := client.New(srv.url, res.AdminToken, tc)

	keys, err := keyfile.CreateParty(filepath.Join(t.TempDir(), "bank"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := admin.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: "bank", SigningKey: cleanroom.EncodeKey(keys.Public())}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: "r", Host: "neutral", Parties: []string{"bank"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	env, _ := statement.Sign(keys.Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID, Party: "bank",
		User: "u", Room: "r", Roles: []cleanroom.Role{cleanroom.RoleProvider}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if _, err := admin.SubmitGrant(ctx, "bank", env); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: "bank", User: "u"}, keys.Signing)
	if err != nil {
		t.Fatal(err)
	}
	schemaJSON := `{"identifiers":[{"column":"phone","class":"phone","priority":1}],
		"attributes":[{"column":"segment","type":"string","policy":"dimension","categories":["a","b"]}]}`
	user := admin.WithToken(tok.Secret)
	agree(t, ctx, info.ServerID, "r", "neutral", map[string]signer{"bank": {user, keys}})
	if _, err := user.CreateDataset(ctx, "r", "customers", json.RawMessage(schemaJSON)); err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("phone,segment\n")
	for i := range 300 {
		fmt.Fprintf(&csv, "+7912%07d,a\n", i)
	}
	file := filepath.Join(t.TempDir(), "customers.csv")
	os.WriteFile(file, []byte(csv.String()), 0o600)
	schema, _ := cleanroom.ParseSchema([]byte(schemaJSON))

	// session prepares the file for a new session and returns its chunks,
	// sealed, and the commit request.
	session := func(c *client.Client) (*httpapi.UploadBody, [][]byte, httpapi.CommitUploadRequest) {
		t.Helper()
		s, err := c.OpenUpload(ctx, "r", "customers")
		if err != nil {
			t.Fatal(err)
		}
		p, err := prepare.Prepare(ctx, file, "", prepare.Config{Server: info.ServerID, Room: "r", Party: "bank", Dataset: "customers",
			Version: s.Version, Schema: schema, Keys: keys, Region: "RU"})
		if err != nil {
			t.Fatal(err)
		}
		const n = 10
		size := (len(p.Payload) + n - 1) / n
		var chunks [][]byte
		for i := range n {
			part := p.Payload[i*size : min(len(p.Payload), (i+1)*size)]
			sealed, err := keyfile.SealTo(s.HPKEKey, upload.SealInfo("r", "customers", s.ID, i, i == n-1), part)
			if err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, sealed)
		}
		return s, chunks, httpapi.CommitUploadRequest{Chunks: n, Manifests: p.Manifests}
	}
	put := func(c *client.Client, s *httpapi.UploadBody, chunks [][]byte, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := c.PutChunk(ctx, "r", "customers", s.ID, i, chunks[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	versions := func(c *client.Client) []int {
		t.Helper()
		d, err := c.ShowDataset(ctx, "r", "customers")
		if err != nil {
			t.Fatal(err)
		}
		var vs []int
		for _, v := range d.Versions {
			if v.Rows != 300 {
				t.Errorf("version %d has %d rows, want all 300", v.Version, v.Rows)
			}
			vs = append(vs, v.Version)
		}
		return vs
	}

	// 1. The uploading process dies after three chunks: nothing appears.
	s1, chunks1, _ := session(user)
	put(user, s1, chunks1, 0, 3)
	if vs := versions(user); len(vs) != 0 {
		t.Fatalf("after an abandoned upload: versions %v", vs)
	}

	// 2. The server is killed after half the chunks: nothing appears; after
	// a restart the same session continues and commits.
	s2, chunks2, commit2 := session(user)
	put(user, s2, chunks2, 0, 5)
	srv.kill()
	srv = startServerProcess(t, dir)
	user = client.New(srv.url, tok.Secret, tc)
	if vs := versions(user); len(vs) != 0 {
		t.Fatalf("after a server crash mid-upload: versions %v", vs)
	}
	put(user, s2, chunks2, 5, 10)
	if _, err := user.CommitUpload(ctx, "r", "customers", s2.ID, commit2); err != nil {
		t.Fatalf("the same upload after the restart: %v", err)
	}
	if vs := versions(user); len(vs) != 1 || vs[0] != s2.Version {
		t.Fatalf("after the resumed upload: versions %v, want [%d]", vs, s2.Version)
	}

	// 3. The server is killed while committing: the version is there
	// whole or not at all, and a retried commit settles it.
	s3, chunks3, commit3 := session(user)
	put(user, s3, chunks3, 0, 10)
	go user.CommitUpload(ctx, "r", "customers", s3.ID, commit3)
	time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	srv.kill()
	srv = startServerProcess(t, dir)
	user = client.New(srv.url, tok.Secret, tc)
	vs := versions(user)
	t.Logf("after the crash during commit: versions %v", vs)
	if len(vs) == 1 {
		if _, err := user.CommitUpload(ctx, "r", "customers", s3.ID, commit3); err != nil {
			t.Fatalf("retried commit after a crash: %v", err)
		}
	} else if _, err := user.CommitUpload(ctx, "r", "customers", s3.ID, commit3); err == nil || !strings.Contains(err.Error(), "is committed") {
		t.Fatalf("retried commit of a committed upload = %v, want a conflict", err)
	}
	if vs := versions(user); len(vs) != 2 || vs[1] != s3.Version {
		t.Fatalf("after the crash during commit: versions %v, want [%d %d]", vs, s2.Version, s3.Version)
	}
	// No plaintext or half-written version file is left in the vault.
	filepath.WalkDir(filepath.Join(dir, "datasets"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") {
			t.Errorf("temporary file left in the vault: %s", path)
		}
		return nil
	})
}
