package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// This file holds what every command shares to read its command line: one
// style of -h, and the exit status 2 for a command line that is wrong
// (exit status 1 is for a command that ran and failed).

// usageError is a mistake in the command line: main exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageErrorf returns a [usageError].
func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// newFlagSet returns the flag set of command name, whose -h prints
//
//	usage: qlsqlite <synopsis>
//
//	<about>
//
//	flags:
//	  ...
func newFlagSet(name, synopsis string, about ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: qlsqlite %s\n", synopsis)
		if len(about) > 0 {
			fmt.Fprintf(w, "\n%s\n", strings.Join(about, "\n"))
		}
		fmt.Fprintf(w, "\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs. -h prints the usage on stdout and
// returns flag.ErrHelp (the command then exits 0); a flag that is unknown
// or has a bad value is a [usageError] that names it and says where the
// flags are listed. Later calls of fs.Usage print on stdout.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	var msg strings.Builder
	fs.SetOutput(&msg) // the flag package's own message, and the usage: printed below as needed
	err := fs.Parse(args)
	fs.SetOutput(stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return flag.ErrHelp
	case err != nil:
		return usageErrorf("%s: %v (qlsqlite %s -h lists its flags)", fs.Name(), err, fs.Name())
	}
	return nil
}
