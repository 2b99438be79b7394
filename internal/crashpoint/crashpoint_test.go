package crashpoint

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestHit: an unarmed point, or another point than the armed one, does
// nothing; the armed one kills the process with SIGKILL, which a child
// process of the test shows.
func TestHit(t *testing.T) {
	if name := os.Getenv("CRASHPOINT_TEST_ARM"); name != "" {
		Hit(name)
		Arm(name)
		Hit("another")
		Hit(name)
		os.Exit(0) // not reached
	}
	Hit("unarmed")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHit$")
	cmd.Env = append(os.Environ(), "CRASHPOINT_TEST_ARM=point")
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the process with an armed point ended with %v, want a kill", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the process with an armed point ended with %v, want SIGKILL", exit)
	}
}
