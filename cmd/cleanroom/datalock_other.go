//go:build !unix

package main

// lockDataDir does nothing where advisory file locks are not available:
// there, stop the server before running commands that need it stopped.
func lockDataDir(dir string) (unlock func(), err error) { return func() {}, nil }
