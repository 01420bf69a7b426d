// Package pgtest starts PostgreSQL servers for tests, from the binaries
// Debian's postgresql-15 package installs: initdb into a temporary
// directory, a unix socket there, and a free TCP port on the loopback
// interface. Run as root, the server runs as the postgres system user
// (PostgreSQL refuses to run as root).
//
// When PostgreSQL is not installed, Start fails with how to install it:
// tests that need a server never skip.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where Debian installs PostgreSQL 15's programs. QLPG_PGBIN
// overrides it.
const BinDir = "/usr/lib/postgresql/15/bin"

// InstallHint says how to install what the tests need.
const InstallHint = "install PostgreSQL 15 and hypopg: apt-get install -y postgresql-15 postgresql-15-hypopg (or set QLPG_PGBIN to a directory holding initdb and postgres)"

// binDir returns the directory of PostgreSQL's programs, or an error that
// says how to install them.
func binDir() (string, error) {
	dir := BinDir
	if d := os.Getenv("QLPG_PGBIN"); d != "" {
		dir = d
	}
	for _, p := range []string{"initdb", "postgres", "pg_basebackup"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("pgtest: PostgreSQL not found (%s/%s: %v): %s", dir, p, err, InstallHint)
		}
	}
	return dir, nil
}

// Server is a PostgreSQL server a test started.
type Server struct {
	Dir    string // the data directory
	Socket string // the directory of the unix socket
	Port   int
	bin    string
	cred   *syscall.Credential // the postgres user's, when run as root

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *logTail
	stopped bool
}

// Options configure a server.
type Options struct {
	// Settings are postgres -c settings (name to value).
	Settings map[string]string
	// HBA lines are added to pg_hba.conf (replication connections need
	// one).
	HBA []string
}

// Start initializes a new cluster in a temporary directory and starts
// it. Stop it with Stop, which also removes the directory.
func Start(opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if err := s.makeDirs(); err != nil {
		return nil, err
	}
	if err := s.run("initdb", "-D", s.Dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		s.remove()
		return nil, err
	}
	if len(opts.HBA) > 0 {
		if err := s.appendHBA(opts.HBA); err != nil {
			s.remove()
			return nil, err
		}
	}
	if err := s.start(opts.Settings); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// StartStandby makes a streaming standby of primary with pg_basebackup
// (-R writes the connection to the primary) and starts it. name is its
// application_name, which synchronous_standby_names refers to.
func StartStandby(primary *Server, name string, opts Options) (*Server, error) {
	s := &Server{bin: primary.bin}
	if err := s.makeDirs(); err != nil {
		return nil, err
	}
	os.Remove(s.Dir) // pg_basebackup makes it
	conn := fmt.Sprintf("host=%s port=%d user=postgres application_name=%s", primary.Socket, primary.Port, name)
	if err := s.run("pg_basebackup", "-D", s.Dir, "-d", conn, "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"); err != nil {
		s.remove()
		return nil, err
	}
	if err := s.start(opts.Settings); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// makeDirs makes the server's directories, owned by the user the server
// runs as.
func (s *Server) makeDirs() error {
	base, err := os.MkdirTemp("", "qlpg-")
	if err != nil {
		return err
	}
	s.Dir, s.Socket = filepath.Join(base, "data"), filepath.Join(base, "sock")
	for _, d := range []string{s.Dir, s.Socket} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("pgtest: running as root, the server needs the postgres system user (%v): %s", err, InstallHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	for _, d := range []string{base, s.Dir, s.Socket} {
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// If the test process dies (a timeout, a kill), the server stops too
	// (SIGQUIT: immediate shutdown) rather than outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// run runs one of PostgreSQL's programs to its end.
func (s *Server) run(name string, args ...string) error {
	out, err := s.command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s: %w\n%s", name, err, out)
	}
	return nil
}

func (s *Server) appendHBA(lines []string) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	return err
}

// start starts postgres on a free port and waits until it accepts
// connections (it says so in its log).
func (s *Server) start(settings map[string]string) error {
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		err = s.startOn(port, settings)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			return err
		}
	}
}

func (s *Server) startOn(port int, settings map[string]string) error {
	args := []string{"-D", s.Dir, "-p", strconv.Itoa(port), "-k", s.Socket,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
		"-c", "shared_buffers=32MB", "-c", "max_prepared_transactions=0"}
	for k, v := range settings {
		args = append(args, "-c", k+"="+v)
	}
	cmd := s.command("postgres", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	ready := make(chan struct{})
	tail := &logTail{}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if strings.Contains(line, "ready to accept") {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-ready:
	case <-exited:
		return fmt.Errorf("pgtest: postgres exited before it was ready:\n%s", tail.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("pgtest: postgres was not ready within 2 minutes:\n%s", tail.String())
	}
	s.mu.Lock()
	s.Port, s.cmd, s.exited, s.log, s.stopped = port, cmd, exited, tail, false
	s.mu.Unlock()
	return nil
}

// freePort returns a TCP port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns a postgres:// URL of database db on the server, over TCP,
// with extra appended to its query.
func (s *Server) URL(db string, extra ...string) string {
	q := append([]string{"sslmode=disable"}, extra...)
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?%s", s.Port, db, strings.Join(q, "&"))
}

// Host returns the server's host:port, for URLs naming several hosts.
func (s *Server) Host() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Kill kills the server at once, as a crash of its machine would stop it:
// the postmaster and every one of its processes (each backend is a session
// of its own, and one whose postmaster alone died goes on serving its
// connection for a while). The postmaster is stopped first, so that it
// starts no process while its children are found. It waits for the
// postmaster to exit.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped {
		return nil
	}
	s.stopped = true
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	for _, child := range children(pid) {
		syscall.Kill(child, syscall.SIGKILL)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	<-s.exited
	return nil
}

// Pause stops (SIGSTOP) the server's process whose title holds name, such
// as "walreceiver", and returns what resumes it.
func (s *Server) Pause(name string) (resume func(), err error) {
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	for _, child := range children(pid) {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(child), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), name) {
			if err := syscall.Kill(child, syscall.SIGSTOP); err != nil {
				return nil, err
			}
			return func() { syscall.Kill(child, syscall.SIGCONT) }, nil
		}
	}
	return nil, fmt.Errorf("pgtest: no %s process", name)
}

// children returns the processes whose parent is pid, from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; it ends at the last ')'.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// Promote promotes a standby to a primary and waits until it is.
func (s *Server) Promote() error {
	return s.run("pg_ctl", "promote", "-w", "-t", "60", "-D", s.Dir)
}

// Stop stops the server (fast shutdown) and removes its directory.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, exited, stopped := s.cmd, s.exited, s.stopped
	s.stopped = true
	s.mu.Unlock()
	var err error
	if cmd != nil && !stopped {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-exited
			err = errors.New("pgtest: postgres did not stop within a minute: killed")
		}
	}
	s.remove()
	return err
}

// Log returns the last lines the server logged.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

func (s *Server) remove() { os.RemoveAll(filepath.Dir(s.Dir)) }

// CreateDB creates database name on the server (the postgres user owns
// it).
func (s *Server) CreateDB(ctx context.Context, name string) error {
	return s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// Exec runs sql on database db of the server, on a connection of its own.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	c, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// logTail keeps the last lines of a server's log.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if len(l.lines) > 200 {
		l.lines = l.lines[len(l.lines)-200:]
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
