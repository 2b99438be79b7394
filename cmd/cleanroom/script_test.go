package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cleanroom-dev/cleanroom/internal/crashpoint"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cleanroom": func() {
			crashpoint.Arm(os.Getenv(envCrashAt))
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs the command-line scripts in testdata/script. Each script
// gets its own initialised data directory ($WORK/data) and a room server on
// a free port, with these variables set:
//
//	CLEANROOM_SERVER  the server's URL
//	CLEANROOM_CA      the server's self-signed certificate
//	ADMIN_TOKEN       the platform admin's token printed by init
//	CLEANROOM_CONFIG  $WORK/config.json (written by `cleanroom login`)
//	HOME, XDG_CONFIG_HOME  inside $WORK
//
// Besides the standard commands, scripts can use
//
//	jsonfield FILE PATH VAR  set VAR to the string or number at PATH (dot-separated
//	                         keys and indexes) of the JSON in FILE (stdout: the last
//	                         command's output)
//	filemode FILE MODE       check that FILE's permission bits are MODE (octal)
//	replace FILE OLD NEW     replace the first OLD in FILE with NEW (tampering)
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup:               setupServer,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonfield": jsonField,
			"filemode":  fileMode,
			"replace":   replaceInFile,
		},
	})
}

// setupServer initialises a data directory in the script's work directory
// and runs a room server on it until the script ends.
func setupServer(env *testscript.Env) error {
	dataDir := filepath.Join(env.WorkDir, "data")
	ctx, cancel := context.WithCancel(context.Background())
	res, err := initDataDir(ctx, dataDir, nil)
	if err != nil {
		cancel()
		return fmt.Errorf("init data directory: %w", err)
	}
	m := NewMain(ServeConfig{DataDir: dataDir, Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	env.Defer(func() {
		cancel()
		if err := <-done; err != nil {
			env.T().Fatal(fmt.Sprintf("room server: %v", err))
		}
	})
	select {
	case <-m.Ready():
	case err := <-done:
		done <- err
		return fmt.Errorf("room server did not start: %v", err)
	case <-time.After(20 * time.Second):
		return errors.New("room server did not start within 20s")
	}
	env.Setenv("CLEANROOM_SERVER", m.URL())
	env.Setenv("CLEANROOM_CA", res.TLSCert)
	env.Setenv("ADMIN_TOKEN", res.AdminToken)
	env.Setenv("CLEANROOM_CONFIG", filepath.Join(env.WorkDir, "config.json"))
	env.Setenv("HOME", env.WorkDir)
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
	return nil
}

// jsonField implements `jsonfield FILE PATH VAR`.
func jsonField(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! jsonfield")
	}
	if len(args) != 3 {
		ts.Fatalf("usage: jsonfield FILE PATH VAR")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				ts.Fatalf("%s: no field %q in path %s", args[0], k, args[1])
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no index %q in path %s", args[0], k, args[1])
			}
			v = x[i]
		default:
			ts.Fatalf("%s: %q in path %s is inside a scalar", args[0], k, args[1])
		}
	}
	switch x := v.(type) {
	case string:
		ts.Setenv(args[2], x)
	case float64:
		ts.Setenv(args[2], fmt.Sprint(x))
	default:
		ts.Fatalf("%s: %s is not a string or number", args[0], args[1])
	}
}

// fileMode implements `filemode FILE MODE`.
func fileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode FILE MODE")
	}
	var want uint32
	if _, err := fmt.Sscanf(args[1], "%o", &want); err != nil {
		ts.Fatalf("mode %q is not octal", args[1])
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := uint32(fi.Mode().Perm())
	if (got == want) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// replaceInFile implements `replace FILE OLD NEW`.
func replaceInFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE OLD NEW")
	}
	s := ts.ReadFile(args[0])
	if !strings.Contains(s, args[1]) {
		ts.Fatalf("%s does not contain %q", args[0], args[1])
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.WriteFile(path, []byte(strings.Replace(s, args[1], args[2], 1)), 0o600))
}
