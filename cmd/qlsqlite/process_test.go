package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"
)

// runProcess runs the qlsqlite command with args as a process of its own
// (the test binary is the command when QLSQLITE_RUN_MAIN=1, see TestMain)
// and returns its exit status, standard output and standard error.
func runProcess(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runExe(t, os.Args[0], nil, args...)
}

// runExe runs exe as the qlsqlite command; prepare, if not nil, adjusts
// the command before it starts.
func runExe(t *testing.T, exe string, prepare func(*exec.Cmd), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "QLSQLITE_RUN_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if prepare != nil {
		prepare(cmd)
	}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}
