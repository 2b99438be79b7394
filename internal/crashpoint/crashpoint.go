// Package crashpoint lets crash tests kill the room server at a chosen
// point of its work, to check that what a restart finds is consistent.
//
// Production code calls Hit at points where a crash would leave work half
// done. Hit does nothing unless a test armed that point with Arm; the
// server never arms one, and no flag or environment variable does: the
// test binary of cmd/cleanroom arms the point named by its own
// environment variable before it runs a server in a child process. An
// armed Hit kills its own process with SIGKILL: no deferred function
// runs, nothing is flushed, as when the machine's OOM killer or an
// operator's kill -9 stops the server.
//
// The points:
//
//	commit:ACTION          an audited API route (ACTION as in the audit log, e.g. upload.commit,
//	                       agent.result, query.run, query.review, audit.cosign): its change and its
//	                       audit entry are written in the transaction and every step that must
//	                       happen before the commit has run (for upload.commit and agent.result,
//	                       the vault version is committed), but the transaction has not committed
//	query.reserved         a query run's budget reservation is committed; nothing has run
//	query.spent            a query run's noise is drawn and its reservation committed (spent);
//	                       its result is not recorded
//	match.resolved         a match run's room people are written as a vault version and its
//	                       reservations committed, its report recorded and audited in the
//	                       transaction, which has not committed
//	retention.destroyed    a dataset's key-encryption key is destroyed by a deletion (end of the
//	                       agreement, retention); its rows and its audit entry are not written
//	vault.tombstoned       a dataset is marked destroyed in the vault; its key file is not yet
//	                       overwritten
package crashpoint

import (
	"os"
	"sync/atomic"
)

// armed is the name of the armed point, nil when none is.
var armed atomic.Pointer[string]

// Arm makes the next Hit(name) kill the process. An empty name disarms.
// Only tests call it. It is safe for concurrent use.
func Arm(name string) {
	if name == "" {
		armed.Store(nil)
		return
	}
	armed.Store(&name)
}

// Hit kills the process with SIGKILL if point name is armed, and does
// nothing otherwise. It is safe for concurrent use.
func Hit(name string) {
	p := armed.Load()
	if p == nil || *p != name {
		return
	}
	self, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = self.Kill()
	}
	if err != nil {
		panic("crashpoint: cannot kill the process at " + name + ": " + err.Error())
	}
	select {} // the kill is on its way; nothing after the point runs
}
