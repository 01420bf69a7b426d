package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"
)

// runExe runs exe as the qlsqlite command, as runCommand runs the test
// binary; prepare, if not nil, adjusts the command before it starts (as
// another user, say).
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
