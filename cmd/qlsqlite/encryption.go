package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ncruces/go-sqlite3"
	// The encrypting VFSes a DSN's vfs= may name.
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
	_ "github.com/ncruces/go-sqlite3/vfs/xts"

	"github.com/quantumleap/qlsqlite/internal/atrest"
	"github.com/quantumleap/qlsqlite/lifecycle"
)

// This file holds what the commands share to open encrypted databases, and
// the rekey command. A key is read from an environment variable or a file,
// never from a flag's value: the command lines of running processes are
// visible to every user of the machine (ps).

// keySource is a pair of flags that say where a key is: -<prefix>key-env
// names an environment variable, -<prefix>key-file a file. Either holds
// the DSN parameters of the encryption, "vfs=adiantum&hexkey=…" (or
// textkey=, key=), or a whole DSN.
type keySource struct {
	flagEnv, flagFile string // the flags' names, for messages
	env, file         string
}

// register adds the flags -<prefix>key-env and -<prefix>key-file to fs;
// whose says whose key they give ("the database's").
func (k *keySource) register(fs *flag.FlagSet, prefix, whose string) {
	k.flagEnv, k.flagFile = prefix+"key-env", prefix+"key-file"
	fs.StringVar(&k.env, k.flagEnv, "", "read "+whose+" encryption parameters (vfs=adiantum&hexkey=...) from the environment `variable`")
	fs.StringVar(&k.file, k.flagFile, "", "read "+whose+" encryption parameters (vfs=adiantum&hexkey=...) from this `file`")
}

// given reports whether a key source was named.
func (k *keySource) given() bool { return k.env != "" || k.file != "" }

// load reads the key; the zero Params when no source was named. Its errors
// name the variable or the file, never the key.
func (k *keySource) load() (atrest.Params, error) {
	var text, from string
	switch {
	case k.env != "" && k.file != "":
		return atrest.Params{}, fmt.Errorf("-%s and -%s are both given: name one", k.flagEnv, k.flagFile)
	case k.env != "":
		from = "-" + k.flagEnv + " " + k.env
		v, ok := os.LookupEnv(k.env)
		if !ok || strings.TrimSpace(v) == "" {
			return atrest.Params{}, fmt.Errorf("%s: the variable is not set or empty: set it to vfs=adiantum&hexkey=... (64 hex digits)", from)
		}
		text = v
	case k.file != "":
		from = "-" + k.flagFile + " " + k.file
		b, err := os.ReadFile(k.file)
		if err != nil {
			return atrest.Params{}, fmt.Errorf("%s: %w", from, err)
		}
		text = string(b)
	default:
		return atrest.Params{}, nil
	}
	p, err := atrest.Parse(text)
	if err == nil && p.IsZero() {
		err = errors.New("no encrypting VFS in it")
	}
	if err != nil {
		return atrest.Params{}, fmt.Errorf("%s: %w", from, err)
	}
	return p, nil
}

// encryption returns p as a [lifecycle.Encryption], nil for the zero Params.
func encryption(p atrest.Params) *lifecycle.Encryption {
	if p.IsZero() {
		return nil
	}
	e := &lifecycle.Encryption{VFS: p.VFS}
	switch p.KeyParam {
	case atrest.ParamKey:
		e.Key = p.Key
	case atrest.ParamHexKey:
		e.HexKey = p.Key
	default:
		e.TextKey = p.Key
	}
	return e
}

// withDSNQuery appends p's parameters to a DSN query.
func withDSNQuery(query string, p atrest.Params) string {
	if p.IsZero() {
		return query
	}
	return query + "&" + p.Query()
}

// keyHint adds to an error of package lifecycle the flags that answer it.
func keyHint(err error, key, copyKey *keySource) error {
	switch {
	case errors.Is(err, lifecycle.ErrWrongKey) && !key.given():
		return fmt.Errorf("%w (give the key with -%s or -%s)", err, key.flagEnv, key.flagFile)
	case errors.Is(err, lifecycle.ErrPlaintextCopy) && copyKey != nil:
		return fmt.Errorf("%w (give the copy's key with -%s or -%s, or pass -plaintext)", err, copyKey.flagEnv, copyKey.flagFile)
	}
	return err
}

func rekeyCmd() command {
	return command{"rekey", "change the key of an encrypted database (or encrypt, or decrypt it)", runRekey}
}

func runRekey(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("rekey", "rekey -db FILE [-key-env VAR | -key-file FILE] (-new-key-env VAR | -new-key-file FILE | -plaintext)",
		"Changes the key of an encrypted database (or encrypts a plaintext one, or decrypts one with -plaintext):",
		"it copies the database to the new key beside it, verifies the copy and renames it into place. Offline: stop",
		"the programs using the database first.")
	dbPath := fs.String("db", "", "the database `file` to rekey (required; it must not be in use)")
	var oldKey, newKey keySource
	oldKey.register(fs, "", "the database's current")
	newKey.register(fs, "new-", "the new")
	plaintext := fs.Bool("plaintext", false, "decrypt the database: write it unencrypted (instead of -new-key-env/-new-key-file)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *dbPath == "" || fs.NArg() > 0 {
		return usageErrorf("rekey: -db FILE is required and takes no other arguments (qlsqlite rekey -h lists the flags)")
	}
	from, err := oldKey.load()
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	to, err := newKey.load()
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	if to.IsZero() && !*plaintext {
		return fmt.Errorf("rekey: give the new key with -new-key-env or -new-key-file, or pass -plaintext to decrypt %s", *dbPath)
	}
	err = lifecycle.Rekey(ctx, *dbPath, lifecycle.RekeyOptions{From: encryption(from), To: encryption(to), Plaintext: *plaintext})
	if err != nil {
		return keyHint(err, &oldKey, nil)
	}
	switch {
	case to.IsZero():
		fmt.Fprintf(stdout, "decrypted %s: it is now unencrypted (verified)\n", *dbPath)
	default:
		fmt.Fprintf(stdout, "rekeyed %s: it is now encrypted with the new key, %s (verified)\n", *dbPath, to)
	}
	return nil
}

// loadKeys reads the key of a database and the key of its copy (zero when
// the copy follows the database).
func loadKeys(key, copyKey *keySource) (db, cp atrest.Params, err error) {
	if db, err = key.load(); err != nil {
		return db, cp, err
	}
	cp, err = copyKey.load()
	return db, cp, err
}

// notADatabaseHint adds to SQLite's "file is not a database" the likeliest
// cause when the file exists: it is encrypted, and its key was not given.
func notADatabaseHint(err error) error {
	if errors.Is(err, sqlite3.NOTADB) && !errors.Is(err, lifecycle.ErrWrongKey) {
		return fmt.Errorf("%w (if the database is encrypted, give its key with -key-env or -key-file)", err)
	}
	return err
}
