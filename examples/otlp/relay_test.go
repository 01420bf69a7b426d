package main

import (
	"io"
	"net"
	"sync"
	"testing"
)

// relay stands between the program's exporters and the Collector, on a
// loopback port of its own that never changes, and plays the Collector's
// outages:
//   - down: every connection is closed as soon as it is accepted, as when
//     nothing runs behind the address;
//   - hang: connections are accepted and read, and never answered, as when
//     the Collector (or a network between) stalls: an export waits for its
//     timeout;
//   - forward: connections are relayed to the Collector.
//
// Switching mode closes the connections of the previous one, so that an
// export stalled in hang fails at once instead of at its timeout.
type relay struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	mode   string
	target string                    // the Collector, in forward mode
	conns  map[net.Conn]*relayedConn // open connections
	downed int                       // connections closed in down mode
}

// relayedConn is what the relay knows of one connection.
type relayedConn struct {
	mode   string
	head   []byte // the first bytes the client sent
	closed bool   // the client closed it (or the relay did)
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, mode: "down", conns: map[net.Conn]*relayedConn{}}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		ln.Close()
		r.set("down", "")
		r.wg.Wait()
	})
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// set switches the relay to mode, closing the connections of the previous
// mode.
func (r *relay) set(mode, target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, rc := range r.conns {
		c.Close()
		rc.closed = true
	}
	clear(r.conns)
	r.mode, r.target = mode, target
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		mode, target := r.mode, r.target
		if mode == "down" {
			r.downed++
			r.mu.Unlock()
			c.Close()
			continue
		}
		rc := &relayedConn{mode: mode}
		r.conns[c] = rc
		r.mu.Unlock()
		r.wg.Add(1)
		if mode == "hang" {
			go r.hang(c, rc)
		} else {
			go r.forward(c, target)
		}
	}
}

// hang reads what the client sends and never answers.
func (r *relay) hang(c net.Conn, rc *relayedConn) {
	defer r.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		r.mu.Lock()
		if len(rc.head) < 64 {
			rc.head = append(rc.head, buf[:min(n, 64-len(rc.head))]...)
		}
		if err != nil {
			rc.closed = true
		}
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// forward relays c to target both ways until either side closes.
func (r *relay) forward(c net.Conn, target string) {
	defer r.wg.Done()
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// stalled returns the first bytes of each connection that hangs now, open
// and sent something: each is an export waiting for an answer.
func (r *relay) stalled() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, rc := range r.conns {
		if rc.mode == "hang" && !rc.closed && len(rc.head) > 0 {
			out = append(out, rc.head)
		}
	}
	return out
}

// downs is the number of connections closed in down mode.
func (r *relay) downs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.downed
}
