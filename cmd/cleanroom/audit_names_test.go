package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckLogName: a server ID or room from a server's answer or an
// export file cannot lead an audit state file out of its directory.
func TestCheckLogName(t *testing.T) {
	const server = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		server, room string
		ok           bool
	}{
		{server, "r1", true},
		{strings.ToUpper(server), "bank-rooms", true},
		{"", "r1", false},
		{server[:30], "r1", false},
		{"../../../../tmp/x", "r1", false},
		{server, "r1/../../audit-" + server + "-r2", false},
		{server, "..", false},
		{server, "", false},
	} {
		err := checkLogName(tc.server, tc.room)
		if (err == nil) != tc.ok {
			t.Errorf("checkLogName(%q, %q) = %v, want ok %v", tc.server, tc.room, err, tc.ok)
		}
		if err == nil {
			dir := t.TempDir()
			if p := auditStatePath(dir, tc.server, tc.room); filepath.Dir(p) != dir {
				t.Errorf("auditStatePath(%q, %q) = %s, outside %s", tc.server, tc.room, p, dir)
			}
		}
	}
}
